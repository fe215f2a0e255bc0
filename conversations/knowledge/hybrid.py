"""Hybrid retrieval and the per-bot router: BM25 and dense similarity mixed, with a confidence.

Every entry gets a few features for a question (BM25 relative to the best, the share of the
question it covers, the best cosine with one of its phrasings, the mean of its best two, the
cosine with their centroid, and a classifier's probability: softmax regression from phrasing
vectors to entries, fitted on the bot's phrasings whenever the index is built). The router
is what turns them into a ranking and a confidence, and it is fitted on the bot's own
phrasings only, each held out (the classifier's scores for it come from a fit without its
fold):

- the mix: softmax regression that puts a held-out phrasing's entry first;
- the confidence: logistic regression that tells "its entry is first" from "its entry was
  removed" (the bot's own phrasings with their entry left out are the off-topic examples);
- a distance ceiling: a question whose Mahalanobis distance to the nearest entry (the
  phrasings' shared covariance, shrunk) is further than 98% of the held-out phrasings' is
  "no good match" whatever the mix says (far-off questions). Each held-out phrasing is placed
  as if it and its nearest sibling were in neither its entry's mean nor the covariance;
- a spread floor: per entry, on how far the question's best cosine falls under the entry's own
  phrasings' nearest-sibling cosines (their mean, in their standard deviations): a
  general-knowledge question can come close to a loose "fun fact" entry's phrasings without
  coming as close as they come to each other;
- the threshold: the confidence under which no more than SUPPORTBOT_FAQ_GOOD_REFUSED of the
  held-out phrasings would be refused (the floors' refusals included).

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

FEATURES = (
    "bm25_relative",
    "coverage",
    "dense",
    "centroid",
    "bm25_log",
    "classifier",
    "dense_top2",
)
# Not in the mix: the classifier's raw score (its logit over SOFTMAX_SCALE), which unlike the
# probability is not normalised over the entries, so it is low when no entry fits.
EXTRA_FEATURES = ("classifier_logit",)
# Bumped when the features change, so routers stored by an older version are refitted.
ROUTER_FORMAT = "6"
# The classifier: softmax regression on the phrasing vectors while phrasings x entries stays
# under SOFTMAX_MAX_CELLS (about a second to fit on one core), ridge regression above it.
SOFTMAX_MAX_CELLS = 250_000
SOFTMAX_SCALE = 20.0  # the vectors are unit length: logits are 20 x cosine-like scores
SOFTMAX_STEPS = 150
SOFTMAX_RATE = 1.0
SOFTMAX_L2 = 1e-4
RIDGE = 1.0
SPREAD_FLOOR_SHARE = 0.02
# The distance ceiling: a Mahalanobis distance to the nearest entry mean, under the
# phrasings' shared covariance around their entries' means shrunk towards DISTANCE_SHRINK x
# its mean variance (a bot's few hundred phrasings cannot estimate 384 x 384 on their own).
DISTANCE_SHRINK = 1.0
DISTANCE_CEILING_SHARE = 0.02
# A held-out phrasing is placed with its nearest sibling left out too: customers' questions
# sit further from an entry than its phrasings sit from each other.
DISTANCE_HOLD_OUT_SIBLING = True
FUSIONS = ("learned", "weighted", "rrf", "bm25", "dense")
RRF_K = 60.0
CONFIDENCE_FEATURES = 10
# An entry's spread (sd of its phrasings' nearest-sibling cosines) is shrunk towards SPREAD_SD
# as if SPREAD_PRIOR more phrasings had it: ten phrasings say little about their own spread.
SPREAD_SD = 0.1
SPREAD_PRIOR = 5.0
CANDIDATES = 10  # entries the mix is trained to order (the rest are far behind)
MAX_FIT_QUERIES = 3000


@dataclass
class RouterParams:
    """What a fitted router is: stored per bot (FaqRouter.params) as JSON."""

    fusion: str = "learned"
    mix: list[float] = field(default_factory=lambda: [1.2, 2.0, 3.0, 2.0, 0.6, 4.0, 3.0])
    confidence: list[float] = field(
        default_factory=lambda: [2.0, 6.0, 4.0, 6.0, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0]
    )
    confidence_bias: float = -8.0
    threshold: float = 0.5
    margin: float = 0.0  # entries within this mix difference of the best are "close"
    spread_floor: float = -10.0  # the best cosine relative to the best entry's own phrasings
    # Mahalanobis distance to the nearest entry above which a question is "no good match"
    distance_ceiling: float | None = None
    report: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RouterParams":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        params = cls(**known)
        if len(params.mix) != len(FEATURES) or len(params.confidence) != CONFIDENCE_FEATURES:
            return cls()  # fitted on an older feature set: the defaults until it is refitted
        return params


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


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _softmax_fit(x: np.ndarray, owner: np.ndarray, entries: int) -> np.ndarray:
    """Softmax regression from phrasing vectors (with a bias column) to their entries.

    Starts from each entry's centroid (a nearest-centroid classifier) and takes a fixed
    number of gradient steps, so the same phrasings always give the same weights; the scale
    is folded into the returned (entries, dim + 1) weights.
    """
    targets = np.zeros((len(x), entries))
    targets[np.arange(len(x)), owner] = 1.0
    counts = np.maximum(1, targets.sum(axis=0))[:, None]
    weights = (targets.T @ x) / counts
    norms = np.linalg.norm(weights[:, :-1], axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    weights[:, :-1] /= norms
    weights[:, -1] = 0.0
    for _ in range(SOFTMAX_STEPS):
        p = _softmax(SOFTMAX_SCALE * (x @ weights.T))
        p -= targets
        weights -= SOFTMAX_RATE * (SOFTMAX_SCALE * (p.T @ x) / len(x) + SOFTMAX_L2 * weights)
    return (SOFTMAX_SCALE * weights).astype(np.float32)


def index_version(documents: Sequence[Document], embedder_name: str) -> str:
    """A hash of what a router is fitted on: the entries' phrasings, answers and embedder."""
    digest = hashlib.sha256(f"{ROUTER_FORMAT}:{embedder_name}".encode())
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
        self.classifier_kind = ""  # "softmax" or "ridge" once there are vectors
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
            self._sibling_stats: dict[int, tuple[float, float] | None] = {}
            self._classifier_build()
            self._distance_build()

    def __len__(self) -> int:
        return len(self.documents)

    def spread_score(self, position: int, dense: float, *, left_out: int | None = None) -> float:
        """How far a question's best cosine with an entry falls under its phrasings' own
        cosines with their nearest sibling (their mean, in shrunk standard deviations, / 3).
        Computed for the best entry only, and kept: an 11 x 11 product per entry."""
        if self.blocks is None:
            return 0.0
        if left_out is None:
            if position not in self._sibling_stats:
                self._sibling_stats[position] = self._spread(self._siblings(position))
            stats = self._sibling_stats[position]
        else:
            stats = self._spread(np.delete(self._siblings(position), left_out))
        if stats is None:
            return 1.0  # a lone phrasing has no spread to fall under: the ceiling decides
        mean, sd = stats
        return min(3.0, max(-6.0, (dense - mean) / sd)) / 3.0

    def _siblings(self, position: int) -> np.ndarray:
        """Each of an entry's phrasings' cosine with its nearest other phrasing."""
        block = self.blocks[position]
        if len(block) < 2:
            return np.zeros(0)
        cosines = (block @ block.T).astype(np.float64)
        np.fill_diagonal(cosines, -np.inf)
        return cosines.max(axis=1)

    @staticmethod
    def _spread(nearest: np.ndarray) -> tuple[float, float] | None:
        if len(nearest) == 0:
            return None
        pooled = len(nearest) * float(nearest.var()) + SPREAD_PRIOR * SPREAD_SD**2
        return float(nearest.mean()), math.sqrt(pooled / (len(nearest) + SPREAD_PRIOR))

    # -- the distance to the nearest entry ------------------------------------------------

    def _distance_build(self) -> None:
        """The phrasings' shared covariance around their entries' means, shrunk, inverted.
        (XᵀX minus each entry's count x its mean's outer product: the classifier's ridge
        needs XᵀX too, and that is cheaper than the residuals' product at 50,000 entries.)"""
        x = self.matrix.astype(np.float64)
        counts = np.array([len(b) for b in self.blocks], dtype=np.float64)
        means = np.add.reduceat(x, self.row_start, axis=0) / counts[:, None]
        gram = self._gram[:-1, :-1]
        covariance = (gram - (means * counts[:, None]).T @ means) / len(x)
        dims = len(covariance)
        variance = float(np.trace(covariance)) / dims
        ridge = DISTANCE_SHRINK * variance if variance > 1e-9 else 1.0 / dims
        self._precision = np.linalg.inv(covariance + ridge * np.eye(dims))
        self._means = means
        self._counts = counts
        self._mean_precision = means @ self._precision
        self._mean_terms = (self._mean_precision * means).sum(axis=1)
        # What a question pays for, in float32 like the other products of the ranking.
        self._precision32 = self._precision.astype(np.float32)
        self._mean_precision32 = self._mean_precision.astype(np.float32)

    def distance(
        self,
        vector: np.ndarray,
        *,
        held_out: tuple[int, int] | None = None,
        entry_left_out: bool = False,
    ) -> float:
        """Squared Mahalanobis distance (per dimension) from a question vector to the nearest
        entry mean. With `held_out` (a stored phrasing), as if that phrasing and its nearest
        sibling were in neither its entry's mean nor the covariance (a low-rank downdate): a
        phrasing left in the covariance finds its own direction there and sits far closer
        than a customer's question does, which set the ceiling far too low. `entry_left_out`:
        its whole entry removed too (router_fit's off-topic examples)."""
        if self.blocks is None:
            return 0.0
        if held_out is None:
            q32 = vector.astype(np.float32)
            squared = float(q32 @ (self._precision32 @ q32)) + self._mean_terms
            squared -= 2.0 * (self._mean_precision32 @ q32)
            return float(np.min(squared)) / len(q32)
        within, without = self.held_out_distance(vector, held_out)
        return without if entry_left_out else within

    def held_out_distance(
        self, vector: np.ndarray, held_out: tuple[int, int]
    ) -> tuple[float, float]:
        """`distance(held_out=...)` with its entry and with its entry left out, in one go."""
        q = vector.astype(np.float64)
        squared = float(q @ self._precision @ q) - 2.0 * (self._mean_precision @ q)
        squared += self._mean_terms
        position, phrasing = held_out
        start = int(self.row_start[position])
        block = self.matrix[start : start + len(self.blocks[position])].astype(np.float64)
        removed = [phrasing]
        if DISTANCE_HOLD_OUT_SIBLING and len(block) > 2:
            cosines = block @ block[phrasing]
            cosines[phrasing] = -np.inf
            removed.append(int(np.argmax(cosines)))
        if len(block) - len(removed) >= 1:
            # The removed phrasings' terms out of the entry's scatter, one at a time (each
            # removal moves the mean), then Woodbury: (S - RᵀR)⁻¹ = P + PRᵀ(I - RPRᵀ)⁻¹RP.
            mean, n, downdates = self._means[position].copy(), float(len(block)), []
            for row in removed:
                residual = block[row] - mean
                downdates.append(residual * math.sqrt(n / (n - 1.0) / len(self.matrix)))
                mean = (n * mean - block[row]) / (n - 1.0)
                n -= 1.0
            r = np.stack(downdates)
            b = r @ self._precision
            inner = np.linalg.inv(np.eye(len(r)) - b @ r.T)
            shifted = (b @ q)[None, :] - self._means @ b.T
            squared += np.einsum("km,mn,kn->k", shifted, inner, shifted)
            own = q - mean
            projected = b @ own
            squared[position] = float(own @ self._precision @ own) + projected @ inner @ projected
            within = float(np.min(squared)) / len(q)
        squared[position] = np.inf
        without = float(np.min(squared)) / len(q)
        if len(block) - len(removed) < 1:
            within = without
        return within, without

    # -- the per-bot classifier --------------------------------------------------------

    def _classifier_build(self) -> None:
        """Fit the classifier on every phrasing: softmax regression when the FAQ is small
        enough to fit in about a second, else ridge regression (closed form)."""
        x = self._with_bias(self.matrix.astype(np.float64))
        self._gram = x.T @ x
        self._held_out_scores: dict[tuple[int, int], np.ndarray] = {}
        self.classifier_kind = (
            "softmax" if len(x) * len(self.documents) <= SOFTMAX_MAX_CELLS else "ridge"
        )
        if self.classifier_kind == "softmax":
            self.classifier = _softmax_fit(x, self.row_owner, len(self.documents))
            return
        # Ridge: with A = XᵀX + λI the weights are A⁻¹XᵀY, and XᵀY is each entry's sum of
        # phrasing vectors. A⁻¹ is kept for the exact leave-one-out scores.
        self._ridge_inverse = np.linalg.inv(self._gram + RIDGE * np.eye(x.shape[1]))
        sums = np.add.reduceat(x, self.row_start, axis=0)
        self.classifier = (sums @ self._ridge_inverse).astype(np.float32)

    @staticmethod
    def _with_bias(x: np.ndarray) -> np.ndarray:
        ones = np.ones((*x.shape[:-1], 1), dtype=x.dtype)
        return np.concatenate([x, ones], axis=-1)

    def classifier_scores(
        self, vector: np.ndarray, *, held_out: tuple[int, int] | None = None
    ) -> np.ndarray:
        """Each entry's raw classifier output (softmax: its logit) for a question vector.
        With `held_out` (a stored phrasing), the output of a classifier that never saw it:
        ridge's exact leave-one-out, or the k-fold softmax logits computed by router_fit."""
        x = self._with_bias(vector.astype(np.float32))
        if held_out is not None and held_out in self._held_out_scores:
            return self._held_out_scores[held_out]
        logits = (self.classifier @ x).astype(np.float64)
        if self.classifier_kind == "softmax":
            return logits
        if held_out is not None:
            x64 = x.astype(np.float64)
            leverage = float(x64 @ self._ridge_inverse @ x64)
            logits[held_out[0]] -= leverage
            logits /= max(1e-6, 1.0 - leverage)
        return logits

    def classifier_hold_out(self, pairs: list[tuple[int, int]], *, folds: int = 4) -> None:
        """Softmax logits of the held-out phrasings, each from a fit without its fold."""
        if self.classifier_kind != "softmax" or not pairs:
            return
        x = self._with_bias(self.matrix.astype(np.float64))
        rows = np.array([self.row_start[p] + k for p, k in pairs])
        fold_of = np.arange(len(rows)) % folds
        for fold in range(folds):
            held = rows[fold_of == fold]
            keep = np.ones(len(x), dtype=bool)
            keep[held] = False
            weights = _softmax_fit(x[keep], self.row_owner[keep], len(self.documents))
            scores = x[held] @ weights.T.astype(np.float64)
            for n, pair in enumerate(np.array(pairs)[fold_of == fold]):
                self._held_out_scores[(int(pair[0]), int(pair[1]))] = scores[n]

    # -- features ----------------------------------------------------------------------

    def _dense(
        self, vector: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each entry's best phrasing cosine, the mean of its best two, its centroid cosine;
        the per-row cosines."""
        n = len(self.documents)
        if self.blocks is None or vector is None:
            return np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(0)
        rows = self.matrix @ vector.astype(np.float32)
        # Each entry's rows are contiguous: reduceat is a hundred times faster than maximum.at.
        best = np.maximum.reduceat(rows, self.row_start)
        # The runner-up: each entry's first best row masked (a tie is its own runner-up, and
        # so is a lone phrasing).
        hits = np.flatnonzero(rows >= best[self.row_owner])
        owners = self.row_owner[hits]
        first = np.ones(len(hits), dtype=bool)
        first[1:] = owners[1:] != owners[:-1]
        masked = rows.copy()
        masked[hits[first]] = -np.inf
        second = np.maximum.reduceat(masked, self.row_start)
        second = np.where(np.isfinite(second), second, best)
        return (
            best.astype(np.float64),
            (best.astype(np.float64) + second) / 2.0,
            (self.centroids @ vector).astype(np.float64),
            rows,
        )

    def features(
        self,
        query: list[str],
        vector: np.ndarray | None,
        *,
        held_out: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """(entries, FEATURES + EXTRA_FEATURES) for a question; `held_out` = (entry,
        phrasing) left out."""
        score, coverage = self.bm25.scores(query)
        dense, top2, centroid, rows = self._dense(vector)
        raw = (
            self.classifier_scores(vector, held_out=held_out)
            if self.blocks is not None and vector is not None
            else np.zeros(len(self.documents))
        )
        classifier = _softmax(raw) if self.classifier_kind == "softmax" else raw
        logit = raw / SOFTMAX_SCALE if self.classifier_kind == "softmax" else raw
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
                    rest_rows = np.sort(rows[start + np.array(keep)])[::-1]
                    dense[position] = float(rest_rows[0])
                    top2[position] = float(rest_rows[:2].mean())
                    rest = block[keep].mean(axis=0)
                    norm = float(np.linalg.norm(rest)) or 1.0
                    centroid[position] = float(rest @ vector) / norm
                else:
                    dense[position] = top2[position] = centroid[position] = 0.0
        top = float(score.max()) if len(score) else 0.0
        relative = score / top if top > 0 else score
        return np.column_stack(
            [relative, coverage, dense, centroid, np.log1p(score) / 3.0, classifier, top2, logit]
        )

    def mix(self, features: np.ndarray, *, fusion: str | None = None) -> np.ndarray:
        fusion = fusion or self.params.fusion
        if fusion == "learned":
            return features[:, : len(FEATURES)] @ np.array(self.params.mix)
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
            return np.zeros(CONFIDENCE_FEATURES)
        order = np.argsort(-mixed, kind="stable")[:2]
        best = order[0]
        second = mixed[order[1]] if len(order) > 1 else mixed[best] - 1.0
        dense_second = features[order[1], 2] if len(order) > 1 else 0.0
        classifier = features[:, 5]
        logit = features[:, len(FEATURES)]
        top_logit = float(logit.max())
        # Energy: a soft maximum of the raw scores, low when no entry's score stands out.
        energy = top_logit + float(np.log(np.exp(logit - top_logit).sum())) / SOFTMAX_SCALE
        spread = classifier[classifier > 0]
        entropy = float(-(spread * np.log(spread)).sum()) / max(1.0, math.log(len(classifier)))
        return np.array(
            [
                mixed[best] / 10.0,
                mixed[best] - second,
                features[best, 1],
                features[best, 2],
                features[best, 2] - dense_second,
                classifier[best],
                float(classifier.max()),
                logit[best],
                energy,
                entropy,
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
        ceiling = self.params.distance_ceiling
        if vector is not None and ceiling is not None and self.distance(vector) > ceiling:
            confidence = 0.0  # far from every entry's phrasings (the distance ceiling)
        best = int(order[0])
        if (
            vector is not None
            and self.spread_score(best, features[best, 2]) < self.params.spread_floor
        ):
            confidence = 0.0  # far from the best entry's own phrasings (the spread floor)
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
    phrasing: int
    entry_removed: np.ndarray  # (entries - 1, FEATURES), its entry left out entirely


def _pairs(index: HybridIndex, *, seed: int = 13) -> list[tuple[int, int]]:
    """(entry, phrasing) of the phrasings held out to fit on (a sample of large FAQs)."""
    pairs = [
        (position, phrasing)
        for position, document in enumerate(index.documents)
        for phrasing in range(1 + len(document.alternatives))
        if 1 + len(document.alternatives) > 1
    ]
    if len(pairs) > MAX_FIT_QUERIES:
        pairs = random.Random(seed).sample(pairs, MAX_FIT_QUERIES)
    return pairs


def _samples(index: HybridIndex, pairs: list[tuple[int, int]]) -> list[_Sample]:
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
        removed = np.delete(features, position, axis=0)
        # BM25 relative to the best must be relative among the entries that remain.
        top = removed[:, 0].max() if len(removed) else 0.0
        if top > 0:
            removed[:, 0] = removed[:, 0] / top
        if index.blocks is not None and index.classifier_kind == "softmax":
            # The softmax of a classifier that never knew the entry: the rest renormalised.
            removed[:, 5] = removed[:, 5] / max(1e-9, float(removed[:, 5].sum()))
        samples.append(_Sample(features, position, phrasing, removed))
    return samples


def _fit_mix(samples: list[_Sample], start: np.ndarray, *, steps: int = 300) -> np.ndarray:
    """Softmax regression over each sample's candidate entries (its own always included)."""
    groups = []
    for sample in samples:
        prior = sample.features[:, 0] + sample.features[:, 2] + sample.features[:, 5]
        candidates = list(np.argsort(-prior, kind="stable")[:CANDIDATES])
        if sample.target not in candidates:
            candidates[-1] = sample.target
        features = sample.features[candidates, : len(FEATURES)]
        groups.append((features, candidates.index(sample.target)))
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
    pairs = _pairs(index)
    if index.blocks is not None:
        index.classifier_hold_out(pairs)
    samples = _samples(index, pairs)
    if len(samples) < 10 or len(index.documents) < 3:
        params.report = {"samples": len(samples), "fitted": False}
        return params
    if fusion == "learned":
        params.mix = [float(v) for v in _fit_mix(samples, np.array(params.mix))]
    rows, labels, margins, on_topic, spread, far = [], [], [], [], [], []
    correct = 0
    for sample in samples:
        mixed = index.mix(sample.features)
        best = int(np.argmax(mixed))
        correct += best == sample.target
        left_out = sample.phrasing if best == sample.target else None
        spread.append(index.spread_score(best, sample.features[best, 2], left_out=left_out))
        held_out = (sample.target, sample.phrasing)
        if index.blocks is not None:
            vector = index.blocks[sample.target][sample.phrasing]
            within, without = index.held_out_distance(vector, held_out)
            far.append(within)
        rows.append(index.confidence_features(sample.features, mixed))
        labels.append(1.0 if best == sample.target else 0.0)
        on_topic.append(True)
        if len(sample.entry_removed):
            removed_mix = index.mix(sample.entry_removed)
            removed_best = int(np.argmax(removed_mix))
            position = removed_best + (removed_best >= sample.target)
            spread.append(index.spread_score(position, sample.entry_removed[removed_best, 2]))
            if index.blocks is not None:
                far.append(without)
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
    if index.blocks is not None and on.any():
        # Per entry: the held-out phrasing's cosine against its entry's other phrasings' own.
        params.spread_floor = float(np.quantile(np.array(spread)[on], SPREAD_FLOOR_SHARE))
        scores = np.where(np.array(spread) < params.spread_floor, 0.0, scores)
        # A question far from every entry is off-topic whatever the mix says: the ceiling is
        # the distance that DISTANCE_CEILING_SHARE of the held-out phrasings exceed.
        far = np.array(far)
        reachable = far[on & np.isfinite(far)]
        if len(reachable):
            share = 1.0 - DISTANCE_CEILING_SHARE
            params.distance_ceiling = float(np.quantile(reachable, share))
            scores = np.where(far > params.distance_ceiling, 0.0, scores)
    # Every held-out phrasing is a good question: refuse at most `good_refused` of them.
    # Kept above 0, so that a floor's refusal (confidence 0) always refuses.
    params.threshold = max(1e-6, float(np.quantile(scores[on], good_refused))) if on.any() else 0.5
    caught = float((scores[~on] < params.threshold).mean()) if (~on).any() else 0.0
    params.margin = float(np.quantile(margins, 0.03))
    params.report = {
        "fitted": True,
        "samples": len(samples),
        "top1": round(correct / len(samples), 4),
        "good_refused": round(float((scores[on] < params.threshold).mean()), 4),
        "entry_removed_caught": round(caught, 4),
        "classifier": index.classifier_kind if index.blocks is not None else "",
    }
    return params
