"""Text embeddings behind one interface: a local model (offline, numpy) or an OpenAI-compatible
embeddings endpoint (the chat model's base URL and key, so Ollama, vLLM and llama.cpp work).

Callers use `embedder_for(bot)` and `embed_texts(texts)`: rows come back L2-normalised
(float32), so a dot product is the cosine. Vectors are cached in-process by content hash;
stored vectors (conversations.knowledge.index) carry the embedder's name so a change of model
is seen and recomputed.
"""

import hashlib
import itertools
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from django.conf import settings

from conversations.knowledge.text import STOP_WORDS, terms

EMBEDDERS = ("local", "openai", "minilm")


class EmbeddingError(Exception):
    """The embeddings endpoint failed or answered something unusable."""


class Embedder(Protocol):
    name: str  # stored beside each vector: a different name means "recompute"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normalised(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class LocalEmbedder:
    """Hashed word stems (with the store synonyms), word pairs and character n-grams.

    No weights and no download: it runs anywhere numpy does, in well under a millisecond per
    question. It is not semantic the way a trained model is; the per-bot router and BM25 make
    up most of the difference (see docs/knowledge.md for the measured comparison).
    """

    name = "local-hash-v1"

    def __init__(self, *, dim: int = 512) -> None:
        self.dim = dim

    def _features(self, text: str) -> dict[str, float]:
        features: dict[str, float] = {}
        stems = terms(text)
        for stem in stems:
            features["w:" + stem] = features.get("w:" + stem, 0.0) + 1.0
        for first, second in itertools.pairwise(stems):
            key = f"b:{first}_{second}"
            features[key] = features.get(key, 0.0) + 0.5
        words = [
            w
            for w in text.lower().replace("\u2019", "'").split()
            if w.strip(".,!?") not in STOP_WORDS
        ]
        for word in words:
            word = "".join(ch for ch in word if ch.isalnum())
            if len(word) < 4:
                continue
            padded = f"<{word}>"
            grams = [padded[i : i + 4] for i in range(len(padded) - 3)]
            for gram in grams:
                key = "c:" + gram
                features[key] = features.get(key, 0.0) + 0.25
        return features

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in self._features(text).items():
                code = zlib.crc32(feature.encode("utf-8"))
                sign = 1.0 if code & 0x80000000 else -1.0
                matrix[row, code % self.dim] += sign * weight
        return _normalised(matrix)


class OpenAIEmbedder:
    """The OpenAI-compatible /embeddings endpoint, in batches."""

    def __init__(self, *, model: str, batch_size: int = 128) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self.batch_size = batch_size
        self._client: Any = None

    def _client_get(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                api_key=settings.OPENAI_API_KEY or "not-needed",
                base_url=settings.OPENAI_BASE_URL or None,
                timeout=settings.OPENAI_TIMEOUT,
                max_retries=settings.OPENAI_MAX_RETRIES,
            )
        return self._client

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [t or " " for t in texts[start : start + self.batch_size]]
            try:
                response = self._client_get().embeddings.create(model=self.model, input=batch)
            except openai.OpenAIError as exc:
                raise EmbeddingError(f"embeddings request failed: {exc}") from exc
            data = sorted(response.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise EmbeddingError(f"asked for {len(batch)} embeddings, got {len(data)}")
            rows += [list(d.embedding) for d in data]
        if not rows:
            return np.zeros((0, 1), dtype=np.float32)
        return _normalised(np.array(rows, dtype=np.float32))


class CachedEmbedder:
    """Any embedder, with an in-process cache keyed by (embedder, content hash)."""

    def __init__(self, inner: Embedder, *, size: int = 20_000) -> None:
        self.inner = inner
        self.name = inner.name
        self._size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [content_hash(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for key in keys:
                vector = self._cache.get(key)
                if vector is not None:
                    self._cache.move_to_end(key)
                    found[key] = vector
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            fresh = self.inner.embed([by_key[k] for k in missing])
            with self._lock:
                for key, vector in zip(missing, fresh, strict=True):
                    found[key] = vector
                    self._cache[key] = vector
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        if not keys:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([found[k] for k in keys])


_embedders: dict[tuple[str, str], CachedEmbedder] = {}
_embedders_lock = threading.Lock()


def _embedder_build(backend: str, model: str) -> Embedder:
    if backend == "local":
        return LocalEmbedder()
    if backend == "openai":
        return OpenAIEmbedder(model=model, batch_size=settings.SUPPORTBOT_EMBEDDING_BATCH)
    if backend == "minilm":
        from conversations.knowledge.minilm import minilm_embedder

        return minilm_embedder()
    raise ValueError(f"unknown embedding backend {backend!r}; use one of {', '.join(EMBEDDERS)}")


def embedder_for(bot: Any = None) -> CachedEmbedder | None:
    """The embedder a bot's knowledge is searched with (None when embeddings are off)."""
    backend = settings.SUPPORTBOT_EMBEDDING_BACKEND
    if backend == "off":
        return None
    if backend == "auto":
        from conversations.knowledge.minilm import minilm_installed

        backend = "minilm" if minilm_installed() else "local"
    key = (backend, settings.SUPPORTBOT_EMBEDDING_MODEL)
    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = _embedders[key] = CachedEmbedder(_embedder_build(*key))
    return embedder


def embed_texts(texts: Sequence[str], *, bot: Any = None) -> np.ndarray:
    """L2-normalised embeddings of texts with the bot's embedder (one row per text)."""
    embedder = embedder_for(bot)
    if embedder is None:
        raise EmbeddingError("embeddings are off (SUPPORTBOT_EMBEDDING_BACKEND=off)")
    return embedder.embed(list(texts))
