"""all-MiniLM-L6-v2 without PyTorch: the int8 onnxruntime encoder (the default) agrees with the
float32 numpy forward pass (the reference) closely enough to rank the same way."""

import json
from pathlib import Path

import numpy as np
import pytest

from conversations.knowledge.embedding import embedder_for
from conversations.knowledge.minilm import MiniLmEmbedder, minilm_installed

pytestmark = pytest.mark.skipif(not minilm_installed(), reason="make install-minilm")

EVAL = Path(__file__).resolve().parents[2] / "data" / "eval"


@pytest.fixture(scope="module")
def int8():
    return MiniLmEmbedder(int8=True)


@pytest.fixture(scope="module")
def float32():
    return MiniLmEmbedder(int8=False)


def phrasings(limit: int) -> list[str]:
    entries = json.loads((EVAL / "banking_faq.json").read_text())
    texts = [text for entry in entries for text in [entry["question"], *entry["alternatives"]]]
    return texts[:limit]


def test_the_default_embedder_is_the_int8_encoder(settings):
    settings.SUPPORTBOT_EMBEDDING_BACKEND = "minilm"
    assert embedder_for().name == "minilm-l6-v2-int8"


def test_both_encoders_give_the_models_published_similarity(int8, float32):
    for embedder in (int8, float32):
        a, b = embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])
        assert float(a @ b) == pytest.approx(0.755, abs=0.005)


def test_int8_cosines_stay_close_to_float32(int8, float32):
    texts = phrasings(200)
    low, ref = int8.embed(texts), float32.embed(texts)
    assert low.dtype == np.float32
    assert np.allclose(np.linalg.norm(low, axis=1), 1.0, atol=1e-5)
    same = (low * ref).sum(axis=1)  # each text's int8 vector against its float32 one
    assert same.min() > 0.999, same.min()  # measured: 0.9995 at worst
    drift = np.abs(low @ low.T - ref @ ref.T)  # every pair's cosine, int8 against float32
    assert drift.max() < 0.02 and drift.mean() < 0.004, (drift.max(), drift.mean())
    # Nearest neighbours barely move (the ranking a search sees); the rest are near ties
    # between phrasings of one intent.
    np.fill_diagonal(low_sims := low @ low.T, -1)
    np.fill_diagonal(ref_sims := ref @ ref.T, -1)
    assert (low_sims.argmax(axis=1) == ref_sims.argmax(axis=1)).mean() >= 0.97


def test_a_text_gets_the_same_vector_whatever_it_is_batched_with(int8, float32):
    # Padding is masked out, and the int8 encoder quantizes each row's activations on their
    # own: a passage embedded in an import's batch matches the question that quotes it.
    texts = ["hi", "my card payment was declined at the supermarket this morning", "refund?"]
    for embedder in (int8, float32):
        together = embedder.embed(texts)
        alone = np.vstack([embedder.embed([text]) for text in texts])
        assert np.allclose(together, alone, atol=1e-5)
