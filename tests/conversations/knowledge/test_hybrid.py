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

    # A distance ceiling that refuses half of the held-out phrasings leaves a quantile of zero;
    # the threshold stays above it, so that the ceiling's refusal (confidence 0) still refuses.
    monkeypatch.setattr(hybrid, "DISTANCE_CEILING_SHARE", 0.5)
    index.params = hybrid.router_fit(index, good_refused=0.05)
    assert 0 < index.params.threshold < 1e-3
    best = index.rank(question, far)[0]
    assert index.distance(far) > index.params.distance_ceiling
    assert best.confidence == 0.0 and not best.confidence >= index.params.threshold


def _without(index, position, rows):
    """The same FAQ with some phrasings removed from one entry, built from scratch."""
    documents = list(index.documents)
    document = documents[position]
    texts = [t for k, t in enumerate([document.question, *document.alternatives]) if k not in rows]
    documents[position] = Document(document.id, texts[0], document.answer, tuple(texts[1:]), ())
    blocks = list(index.blocks)
    blocks[position] = np.delete(blocks[position], rows, axis=0)
    return hybrid.HybridIndex(documents, blocks=blocks)


def test_a_held_out_phrasing_is_as_far_as_from_an_index_that_never_had_it(banking):
    index, _ = banking
    assert hybrid.DISTANCE_HOLD_OUT_SIBLING
    for position, phrasing in ((4, 2), (30, 0), (61, 9)):
        block = index.blocks[position]
        vector = block[phrasing]
        siblings = block @ vector
        siblings[phrasing] = -np.inf
        # Held out with its nearest sibling (customers' questions sit further than that).
        rows = [phrasing, int(np.argmax(siblings))]
        held = index.distance(vector, held_out=(position, phrasing))
        rebuilt = _without(index, position, rows).distance(vector)
        # Exact but for the covariance's count and shrinkage, which move by two phrasings in 682.
        assert held == pytest.approx(rebuilt, rel=0.02)
        # Left in, the phrasing finds its own direction in the covariance: far closer.
        assert index.distance(vector) < 0.8 * held
        # Its whole entry left out, it is no closer (the nearest may be another entry already).
        assert index.distance(vector, held_out=(position, phrasing), entry_left_out=True) >= held


def test_the_distance_ceiling_passes_phrasings_and_refuses_far_questions(banking):
    index, embedder = banking
    index.params = hybrid.router_fit(index, good_refused=0.05)
    ceiling = index.params.distance_ceiling
    assert ceiling is not None and np.isfinite(ceiling)
    # Fitted so that about 2% of the held-out phrasings are over it.
    over = [
        index.distance(block[k], held_out=(position, k)) > ceiling
        for position, block in enumerate(index.blocks)
        for k in range(len(block))
    ]
    assert 0.005 < np.mean(over) < 0.04
    # An entry's own mean is at distance 0; stored phrasings are well under the ceiling.
    assert index.distance(index.blocks[7].mean(axis=0)) == pytest.approx(0.0, abs=1e-6)
    assert all(index.distance(v) < ceiling for v in index.blocks[7])
    for question in ("what year did the roman empire fall", "who painted the mona lisa"):
        assert index.distance(embedder.embed([question])[0]) > ceiling
        assert index.rank(question, embedder.embed([question])[0])[0].confidence == 0.0


def test_the_ceiling_is_stored_with_the_router_and_survives_json(banking):
    index, _ = banking
    params = hybrid.router_fit(index, good_refused=0.05)
    restored = hybrid.RouterParams.from_json(json.loads(json.dumps(params.to_json())))
    assert restored.distance_ceiling == params.distance_ceiling
    assert hybrid.RouterParams().distance_ceiling is None  # unfitted: no ceiling
