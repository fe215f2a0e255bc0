"""Okapi BM25 over FAQ entries, each scored on its phrasings, its answer and its tags.

Postings are numpy arrays, so a question costs one small scatter-add per query term rather
than a Python loop over every entry (1,000 entries: well under a millisecond).
"""

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from conversations.knowledge.text import terms

K1 = 1.2
B = 0.75
# How much a term in the question or an alternative phrasing counts against one in the answer.
PHRASING_WEIGHT = 2.0
ANSWER_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scored:
    document: Document
    score: float
    # The share of the question's weight (IDF) this entry covers, 0..1: the "good match" signal.
    coverage: float


class Bm25Index:
    """An in-memory index over a bot's entries."""

    def __init__(
        self,
        documents: list[Document],
        *,
        phrasing_weight: float = PHRASING_WEIGHT,
        answer_weight: float = ANSWER_WEIGHT,
    ) -> None:
        self.documents = documents
        self.phrasing_weight = phrasing_weight
        self._tfs: list[Counter[str]] = []
        df: Counter[str] = Counter()
        for document in documents:
            tf: Counter[str] = Counter()
            for text in (document.question, *document.alternatives):
                for term in terms(text):
                    tf[term] += phrasing_weight
            for text in (document.answer, *document.tags):
                for term in terms(text):
                    tf[term] += answer_weight
            self._tfs.append(tf)
            df.update(tf.keys())
        n = len(documents)
        self._length = np.array([sum(tf.values()) for tf in self._tfs], dtype=np.float64)
        self._average = float(self._length.mean()) if n else 1.0
        self._norm = K1 * (1 - B + B * self._length / (self._average or 1.0))
        self._idf = {term: math.log(1 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}
        # A word no entry contains weighs like the rarest word: it counts against coverage.
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5) if n else 1.0
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for position, tf in enumerate(self._tfs):
            for term, freq in tf.items():
                rows, freqs = postings.setdefault(term, ([], []))
                rows.append(position)
                freqs.append(freq)
        self._postings = {
            term: (np.array(rows, dtype=np.int64), np.array(freqs, dtype=np.float64))
            for term, (rows, freqs) in postings.items()
        }

    def __len__(self) -> int:
        return len(self.documents)

    def query_terms(self, question: str) -> list[str]:
        return list(dict.fromkeys(terms(question)))

    def scores(self, query: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every entry's BM25 score and coverage (share of the query's IDF it contains)."""
        n = len(self.documents)
        score = np.zeros(n)
        covered = np.zeros(n)
        total = sum(self._idf.get(term, self._idf_unknown) for term in query) or 1.0
        for term in query:
            posting = self._postings.get(term)
            if posting is None:
                continue
            rows, freqs = posting
            idf = self._idf[term]
            score[rows] += idf * freqs * (K1 + 1) / (freqs + self._norm[rows])
            covered[rows] += idf
        return score, covered / total

    def score_without(self, query: list[str], position: int, phrasing: str) -> tuple[float, float]:
        """One entry's score and coverage as if one of its phrasings were not there.

        For fitting on the bot's own phrasings held out one at a time: a phrasing must not find
        itself. (The IDF and the average length stay as they are: a negligible difference.)
        """
        tf = self._tfs[position].copy()
        for term in terms(phrasing):
            tf[term] -= self.phrasing_weight
        length = sum(v for v in tf.values() if v > 0)
        norm = K1 * (1 - B + B * length / (self._average or 1.0))
        total = sum(self._idf.get(term, self._idf_unknown) for term in query) or 1.0
        score = covered = 0.0
        for term in query:
            freq = tf.get(term, 0.0)
            if freq <= 0:
                continue
            idf = self._idf[term]
            score += idf * freq * (K1 + 1) / (freq + norm)
            covered += idf
        return score, covered / total

    def search(self, question: str, *, limit: int = 3) -> list[Scored]:
        query = self.query_terms(question)
        if not query or not self.documents:
            return []
        score, coverage = self.scores(query)
        order = np.lexsort((np.arange(len(score)), -score))
        return [
            Scored(self.documents[i], float(score[i]), float(coverage[i]))
            for i in order[:limit]
            if score[i] > 0
        ]
