"""The router's dense features and its threshold, on a real FAQ with the local embedder."""

import json
from pathlib import Path

import numpy as np
import pytest

from conversations.knowledge import hybrid
from conversations.knowledge.bm25 import Document
from conversations.knowledge.embedding import LocalEmbedder

BANKING = Path(__file__).resolve().parents[2] / "data" / "eval" / "banking_faq.json"
DENSE, TOP2 = hybrid.FEATURES.index("dense"), hybrid.FEATURES.index("dense_top2")


@pytest.fixture(scope="module")
def banking():
    entries = json.loads(BANKING.read_text())
    documents = [
        Document(i, e["question"], e["answer"], tuple(e["alternatives"]), ())
        for i, e in enumerate(entries)
    ]
    embedder = LocalEmbedder()
    blocks = [embedder.embed([d.question, *d.alternatives]) for d in documents]
    return hybrid.HybridIndex(documents, blocks=blocks), embedder


def test_each_entry_gets_its_best_cosine_and_the_mean_of_its_best_two(banking):
    index, embedder = banking
    question = "my card got stuck in the cash machine"
    vector = embedder.embed([question])[0]
    features = index.features(index.bm25.query_terms(question), vector)
    for position, block in enumerate(index.blocks):
        cosines = np.sort(block @ vector)[::-1]
        assert features[position, DENSE] == pytest.approx(cosines[0], abs=1e-5)
        assert features[position, TOP2] == pytest.approx(cosines[:2].mean(), abs=1e-5)

    # A held-out phrasing is scored against its entry's other phrasings only.
    phrasing = index.blocks[4][2]
    text = index.documents[4].alternatives[1]
    held = index.features(index.bm25.query_terms(text), phrasing, held_out=(4, 2))
    rest = np.sort(np.delete(index.blocks[4], 2, axis=0) @ phrasing)[::-1]
    assert held[4, DENSE] == pytest.approx(rest[0], abs=1e-5) and rest[0] < 0.999
    assert held[4, TOP2] == pytest.approx(rest[:2].mean(), abs=1e-5)


def test_a_floor_refuses_even_when_the_floors_take_the_whole_budget(banking, monkeypatch):
    index, embedder = banking
    index.params = hybrid.router_fit(index, good_refused=0.05)
    assert index.params.report["fitted"] and index.params.threshold > 0
    question = "what year did the roman empire fall"
    far = embedder.embed([question])[0]
    assert index.rank(question, far)[0].confidence < index.params.threshold

    # A dense floor that refuses half of the held-out phrasings leaves a quantile of zero; the
    # threshold stays above it, so that the floor's refusal (confidence 0) still refuses.
    monkeypatch.setattr(hybrid, "DENSE_FLOOR_SHARE", 0.5)
    index.params = hybrid.router_fit(index, good_refused=0.05)
    assert 0 < index.params.threshold < 1e-3
    best = index.rank(question, far)[0]
    assert best.dense < index.params.dense_floor
    assert best.confidence == 0.0 and not best.confidence >= index.params.threshold
