"""Hybrid retrieval and the per-bot router: BM25 and dense similarity mixed, with a confidence.

Every entry gets a few features for a question (BM25 relative to the best, the share of the
question it covers, the best cosine with one of its phrasings, the cosine with their centroid).
The router is what turns them into a ranking and a confidence, and it is fitted on the bot's
own phrasings only, each held out one at a time:

- the mix: softmax regression that puts a held-out phrasing's entry first;
- the confidence: logistic regression that tells "its entry is first" from "its entry was
  removed" (the bot's own phrasings with their entry left out are the off-topic examples);
- the threshold: the confidence under which no more than SUPPORTBOT_FAQ_GOOD_REFUSED of the
  held-out phrasings would be refused.

No question a test or a customer asks is ever used to fit it.
"""

import hashlib
import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from conversations.knowledge.bm25 import Bm25Index, Document

FEATURES = ("bm25_relative", "coverage", "dense", "centroid", "bm25_log")
FUSIONS = ("learned", "weighted", "rrf", "bm25", "dense")
RRF_K = 60.0
CANDIDATES = 10  # entries the mix is trained to order (the rest are far behind)
MAX_FIT_QUERIES = 3000


@dataclass
class RouterParams:
    """What a fitted router is: stored per bot (FaqRouter.params) as JSON."""

    fusion: str = "learned"
    mix: list[float] = field(default_factory=lambda: [1.2, 2.0, 6.0, 2.0, 0.6])
    confidence: list[float] = field(default_factory=lambda: [2.0, 6.0, 4.0, 6.0, 2.0])
    confidence_bias: float = -8.0
    threshold: float = 0.5
    margin: float = 0.0  # entries within this mix difference of the best are "close"
    report: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RouterParams":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True, slots=True)
class Ranked:
    document: Document
    position: int
    bm25: float
    coverage: float
    dense: float
    mix: float
    confidence: float = 0.0


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def index_version(documents: Sequence[Document], embedder_name: str) -> str:
    """A hash of what a router is fitted on: the entries' phrasings, answers and embedder."""
    digest = hashlib.sha256(embedder_name.encode())
    for d in documents:
        digest.update(json.dumps([d.id, d.question, d.answer, list(d.alternatives)]).encode())
    return digest.hexdigest()


class HybridIndex:
    """BM25 over the entries plus their phrasing vectors, ranked by a router's mix."""

    def __init__(
        self,
        documents: list[Document],
        *,
        blocks: list[np.ndarray] | None = None,
        params: RouterParams | None = None,
    ) -> None:
        self.documents = documents
        self.bm25 = Bm25Index(documents)
        self.params = params or RouterParams()
        self.blocks = blocks if blocks and all(len(b) for b in blocks) else None
        if self.blocks is not None:
            self.matrix = np.vstack(self.blocks).astype(np.float32)
            self.row_owner = np.concatenate(
                [np.full(len(b), i, dtype=np.int64) for i, b in enumerate(self.blocks)]
            )
            self.row_start = np.cumsum([0] + [len(b) for b in self.blocks[:-1]])
            centroids = np.stack([b.mean(axis=0) for b in self.blocks])
            norms = np.linalg.norm(centroids, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            self.centroids = (centroids / norms).astype(np.float32)

    def __len__(self) -> int:
        return len(self.documents)

    # -- features ----------------------------------------------------------------------

    def _dense(self, vector: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each entry's best phrasing cosine and centroid cosine; the per-row cosines."""
        n = len(self.documents)
        if self.blocks is None or vector is None:
            return np.zeros(n), np.zeros(n), np.zeros(0)
        rows = self.matrix @ vector.astype(np.float32)
        # Each entry's rows are contiguous: reduceat is a hundred times faster than maximum.at.
        best = np.maximum.reduceat(rows, self.row_start)
        return best.astype(np.float64), (self.centroids @ vector).astype(np.float64), rows

    def features(
        self,
        query: list[str],
        vector: np.ndarray | None,
        *,
        held_out: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """(entries, FEATURES) for a question; `held_out` = (entry, phrasing) left out."""
        score, coverage = self.bm25.scores(query)
        dense, centroid, rows = self._dense(vector)
        if held_out is not None:
            position, phrasing = held_out
            document = self.documents[position]
            text = (document.question, *document.alternatives)[phrasing]
            score[position], coverage[position] = self.bm25.score_without(query, position, text)
            if self.blocks is not None:
                block = self.blocks[position]
                keep = [r for r in range(len(block)) if r != phrasing]
                if keep:
                    start = self.row_start[position]
                    dense[position] = float(rows[start + np.array(keep)].max())
                    rest = block[keep].mean(axis=0)
                    norm = float(np.linalg.norm(rest)) or 1.0
                    centroid[position] = float(rest @ vector) / norm
                else:
                    dense[position] = centroid[position] = 0.0
        top = float(score.max()) if len(score) else 0.0
        relative = score / top if top > 0 else score
        return np.column_stack([relative, coverage, dense, centroid, np.log1p(score) / 3.0])

    def mix(self, features: np.ndarray, *, fusion: str | None = None) -> np.ndarray:
        fusion = fusion or self.params.fusion
        if fusion == "learned":
            return features @ np.array(self.params.mix)
        if fusion == "weighted":
            return 0.5 * features[:, 0] + 0.5 * features[:, 2]
        if fusion == "bm25":
            return features[:, 0] + 1e-3 * features[:, 2]
        if fusion == "dense":
            return features[:, 2] + 1e-3 * features[:, 0]
        if fusion == "rrf":
            ranks = np.empty((len(features), 2))
            for column, feature in enumerate((0, 2)):
                order = np.argsort(-features[:, feature], kind="stable")
                ranks[order, column] = np.arange(1, len(features) + 1)
            return (1.0 / (RRF_K + ranks)).sum(axis=1)
        raise ValueError(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)}")

    def confidence_features(self, features: np.ndarray, mixed: np.ndarray) -> np.ndarray:
        """For the best entry: its mix, the margin to the runner-up, coverage, dense, margin."""
        if len(mixed) == 0:
            return np.zeros(5)
        order = np.argsort(-mixed, kind="stable")[:2]
        best = order[0]
        second = mixed[order[1]] if len(order) > 1 else mixed[best] - 1.0
        dense_second = features[order[1], 2] if len(order) > 1 else 0.0
        return np.array(
            [
                mixed[best] / 10.0,
                mixed[best] - second,
                features[best, 1],
                features[best, 2],
                features[best, 2] - dense_second,
            ]
        )

    def confidence(self, values: np.ndarray) -> float:
        return float(
            _sigmoid(float(values @ np.array(self.params.confidence)) + self.params.confidence_bias)
        )

    # -- ranking -----------------------------------------------------------------------

    def rank(
        self, question: str, vector: np.ndarray | None, *, limit: int = 3, fusion: str | None = None
    ) -> list[Ranked]:
        query = self.bm25.query_terms(question)
        if not self.documents or (not query and vector is None):
            return []
        features = self.features(query, vector)
        mixed = self.mix(features, fusion=fusion)
        order = np.argsort(-mixed, kind="stable")[:limit]
        confidence = self.confidence(self.confidence_features(features, mixed))
        ranked = []
        for n, i in enumerate(order):
            if features[i, 0] <= 0 and features[i, 2] <= 0:
                continue
            ranked.append(
                Ranked(
                    document=self.documents[i],
                    position=int(i),
                    bm25=float(features[i, 0]),
                    coverage=float(features[i, 1]),
                    dense=float(features[i, 2]),
                    mix=float(mixed[i]),
                    # The first entry carries the router's confidence; the others a share of
                    # it by how far behind they are.
                    confidence=confidence
                    if n == 0
                    else confidence * math.exp(-max(0.0, mixed[order[0]] - mixed[i])),
                )
            )
        return ranked


# -- fitting the router on the bot's own phrasings ----------------------------------------


@dataclass
class _Sample:
    features: np.ndarray  # (entries, FEATURES), the phrasing's entry without that phrasing
    target: int
    entry_removed: np.ndarray  # (entries - 1, FEATURES), its entry left out entirely


def _samples(index: HybridIndex, *, seed: int = 13) -> list[_Sample]:
    pairs = [
        (position, phrasing)
        for position, document in enumerate(index.documents)
        for phrasing in range(1 + len(document.alternatives))
        if 1 + len(document.alternatives) > 1
    ]
    if len(pairs) > MAX_FIT_QUERIES:
        pairs = random.Random(seed).sample(pairs, MAX_FIT_QUERIES)
    samples = []
    for position, phrasing in pairs:
        document = index.documents[position]
        text = (document.question, *document.alternatives)[phrasing]
        query = index.bm25.query_terms(text)
        if not query:
            continue
        vector = None
        if index.blocks is not None:
            vector = index.blocks[position][phrasing]
        features = index.features(query, vector, held_out=(position, phrasing))
        removed = np.delete(index.features(query, vector), position, axis=0)
        # BM25 relative to the best must be relative among the entries that remain.
        top = removed[:, 0].max() if len(removed) else 0.0
        if top > 0:
            removed[:, 0] = removed[:, 0] / top
        samples.append(_Sample(features, position, removed))
    return samples


def _fit_mix(samples: list[_Sample], start: np.ndarray, *, steps: int = 300) -> np.ndarray:
    """Softmax regression over each sample's candidate entries (its own always included)."""
    groups = []
    for sample in samples:
        prior = sample.features[:, 0] + sample.features[:, 2]
        candidates = list(np.argsort(-prior, kind="stable")[:CANDIDATES])
        if sample.target not in candidates:
            candidates[-1] = sample.target
        groups.append((sample.features[candidates], candidates.index(sample.target)))
    if not groups:
        return start
    x = np.stack([g[0] for g in groups])  # (samples, candidates, features)
    y = np.array([g[1] for g in groups])
    w = start.astype(np.float64).copy()
    rate, l2 = 0.5, 1e-3
    for _ in range(steps):
        logits = x @ w
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1.0
        grad = np.einsum("sc,scf->f", p, x) / len(y) + l2 * w
        w -= rate * grad
    return w


def _fit_confidence(x: np.ndarray, y: np.ndarray, *, steps: int = 500) -> tuple[np.ndarray, float]:
    w = np.zeros(x.shape[1])
    b = 0.0
    rate, l2 = 1.0, 1e-3
    # Balanced classes: as many held-out entries as held-out phrasings, whatever the counts.
    weights = np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum()))
    for _ in range(steps):
        p = _sigmoid(x @ w + b)
        error = (p - y) * weights
        w -= rate * (x.T @ error + l2 * w)
        b -= rate * error.sum()
    return w, float(b)


def router_fit(
    index: HybridIndex, *, good_refused: float = 0.05, fusion: str = "learned"
) -> RouterParams:
    """Fit the mix, the confidence and its threshold on the index's own phrasings."""
    params = RouterParams(fusion=fusion)
    index.params = params
    samples = _samples(index)
    if len(samples) < 10 or len(index.documents) < 3:
        params.report = {"samples": len(samples), "fitted": False}
        return params
    if fusion == "learned":
        params.mix = [float(v) for v in _fit_mix(samples, np.array(params.mix))]
    rows, labels, margins, on_topic = [], [], [], []
    correct = 0
    for sample in samples:
        mixed = index.mix(sample.features)
        best = int(np.argmax(mixed))
        correct += best == sample.target
        rows.append(index.confidence_features(sample.features, mixed))
        labels.append(1.0 if best == sample.target else 0.0)
        on_topic.append(True)
        if len(sample.entry_removed):
            removed_mix = index.mix(sample.entry_removed)
            rows.append(index.confidence_features(sample.entry_removed, removed_mix))
            labels.append(0.0)
            on_topic.append(False)
        order = np.sort(mixed)[::-1]
        margins.append(float(order[0] - order[1]) if len(order) > 1 else 1.0)
    x = np.stack(rows)
    y = np.array(labels)
    w, b = _fit_confidence(x, y)
    params.confidence = [float(v) for v in w]
    params.confidence_bias = b
    scores = _sigmoid(x @ w + b)
    on = np.array(on_topic)
    # Every held-out phrasing is a good question: refuse at most `good_refused` of them.
    params.threshold = float(np.quantile(scores[on], good_refused)) if on.any() else 0.5
    caught = float((scores[~on] < params.threshold).mean()) if (~on).any() else 0.0
    params.margin = float(np.quantile(margins, 0.03))
    params.report = {
        "fitted": True,
        "samples": len(samples),
        "top1": round(correct / len(samples), 4),
        "good_refused": round(float((scores[on] < params.threshold).mean()), 4),
        "entry_removed_caught": round(caught, 4),
    }
    return params
