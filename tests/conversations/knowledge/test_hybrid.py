"""The router's threshold and floors, on a real FAQ with the local embedder."""

import json
from pathlib import Path

import pytest

from conversations.knowledge import hybrid
from conversations.knowledge.bm25 import Document
from conversations.knowledge.embedding import LocalEmbedder

BANKING = Path(__file__).resolve().parents[2] / "data" / "eval" / "banking_faq.json"


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
