"""Okapi BM25 over FAQ entries, each scored on its phrasings, its answer and its tags."""

import math
from collections import Counter
from dataclasses import dataclass

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
    """An in-memory index; cheap to build for the few hundred entries a store's FAQ holds."""

    def __init__(
        self,
        documents: list[Document],
        *,
        phrasing_weight: float = PHRASING_WEIGHT,
        answer_weight: float = ANSWER_WEIGHT,
    ) -> None:
        self.documents = documents
        self._tf: list[Counter[str]] = []
        self._length: list[float] = []
        df: Counter[str] = Counter()
        for document in documents:
            tf: Counter[str] = Counter()
            for text in (document.question, *document.alternatives):
                for term in terms(text):
                    tf[term] += phrasing_weight
            for term in terms(document.answer):
                tf[term] += answer_weight
            for tag in document.tags:
                for term in terms(tag):
                    tf[term] += answer_weight
            self._tf.append(tf)
            self._length.append(sum(tf.values()))
            df.update(tf.keys())
        n = len(documents)
        self._average = (sum(self._length) / n) if n else 1.0
        self._idf = {term: math.log(1 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}
        # A word no entry contains weighs like the rarest word: it counts against coverage.
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5) if n else 1.0

    def search(self, question: str, *, limit: int = 3) -> list[Scored]:
        query = list(dict.fromkeys(terms(question)))
        if not query or not self.documents:
            return []
        total_weight = sum(self._idf.get(term, self._idf_unknown) for term in query)
        scored: list[Scored] = []
        for document, tf, length in zip(self.documents, self._tf, self._length, strict=True):
            score = 0.0
            covered = 0.0
            norm = K1 * (1 - B + B * length / self._average)
            for term in query:
                freq = tf.get(term)
                if not freq:
                    continue
                idf = self._idf[term]
                score += idf * freq * (K1 + 1) / (freq + norm)
                covered += idf
            if score > 0:
                scored.append(Scored(document, score, covered / total_weight))
        scored.sort(key=lambda s: (-s.score, s.document.id))
        return scored[:limit]
