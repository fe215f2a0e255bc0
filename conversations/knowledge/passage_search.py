"""Searching a bot's article passages: the one seam between the tools and the ranking.

Hybrid, like the FAQ: BM25 (each passage scored on its article title and heading path as
phrasings and its text as the answer) mixed with the cosine between the question and the
passage's stored vector (the FAQ's embedder and VectorIndex; passage_vectors.py). Only the
passages of each published article's indexed version are searched, so a re-index in progress
is never seen. The weights and floors were tuned on the "dev" cases of
tests/data/eval/demo_help_passages.jsonl only; docs/knowledge.md has the measured figures.
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, F, Max

from conversations.background import task_off_request
from conversations.knowledge.articles import article_link_for
from conversations.knowledge.bm25 import Bm25Index, Document
from conversations.knowledge.embedding import EmbeddingError, embedder_for
from conversations.knowledge.index import VectorIndex
from conversations.knowledge.passage_vectors import passage_vector
from conversations.models import Article, Passage

log = logging.getLogger(__name__)

FUSIONS = ("hybrid", "bm25", "dense")


@dataclass(frozen=True, slots=True)
class PassageMatch:
    id: int
    article_id: int
    title: str
    heading: str
    url: str
    text: str
    score: float
    coverage: float
    similarity: float = 0.0  # cosine with the question (0 without vectors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "article_id": self.article_id,
            "title": self.title,
            "heading": self.heading,
            "url": self.url,
            "text": self.text,
            "score": round(self.score, 3),
        }

    def source(self) -> dict[str, Any]:
        """How a reply cites it: the widget links the title (and section) to the url."""
        return {
            "type": "article",
            "id": self.article_id,
            "title": self.title,
            "section": self.heading,
            "url": self.url,
        }


@dataclass(frozen=True, slots=True)
class PassageSearchResult:
    matches: list[PassageMatch]
    no_good_match: bool


@dataclass(frozen=True, slots=True)
class _Meta:
    article_id: int
    title: str
    heading: str
    url: str


@dataclass(frozen=True, slots=True)
class PassageIndex:
    bm25: Bm25Index
    meta: dict[int, _Meta]
    dense: VectorIndex | None = None  # one row per passage, in the BM25 index's order
    embedder: Any = None


# Per process: bot id -> (version, index); the version is read on each search, so an article
# indexed by any process is seen by every one.
_indexes: dict[int, tuple[tuple[Any, ...], PassageIndex]] = {}
_lock = threading.Lock()


def _published(bot_id: int):
    return Article.objects.filter(bot_id=bot_id, is_published=True, indexed_version__gt=0)


def _version(bot_id: int) -> tuple[Any, ...]:
    stats = _published(bot_id).aggregate(
        count=Count("id"), indexed=Max("indexed_at"), changed=Max("updated_at")
    )
    embedder = embedder_for()
    return (
        stats["count"],
        stats["indexed"],
        stats["changed"],
        embedder.name if embedder else "",
    )


def _rows(bot_id: int) -> list[tuple[Any, ...]]:
    return list(
        Passage.objects.filter(
            article__bot_id=bot_id,
            article__is_published=True,
            version=F("article__indexed_version"),
        )
        .order_by("article_id", "position")
        .values_list(
            "pk",
            "heading",
            "anchor",
            "text",
            "article_id",
            "article__title",
            "article__url",
            "article__bot__slug",
            "embedding",
            "embedding_model",
        )
    )


def _dense_index(rows: list[tuple[Any, ...]], embedder: Any) -> VectorIndex | None:
    """The passages' vectors; a passage without a current one gets no row (cosine -1)."""
    if embedder is None:
        return None
    vectors = [passage_vector(row[8], row[9], embedder=embedder) for row in rows]
    found = [v for v in vectors if v is not None]
    if not found:
        return None
    dim = found[0].shape[0]
    blocks = [
        v[None, :] if v is not None and v.shape[0] == dim else np.zeros((0, dim), np.float32)
        for v in vectors
    ]
    return VectorIndex([row[0] for row in rows], blocks)


def passage_index(*, bot_id: int) -> PassageIndex:
    """The bot's passage index over its published, indexed articles; rebuilt when they change."""
    version = _version(bot_id)
    cached = _indexes.get(bot_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    embedder = embedder_for()
    rows = _rows(bot_id)
    if embedder is not None and any(row[9] != embedder.name or not row[8] for row in rows):
        # Never embedded here (a search embeds only its question): the background embeds them
        # whole articles at a time, and each finished group moves the version, so the next
        # search rebuilds; until then those passages are ranked by BM25 alone.
        _refresh_later(bot_id)
    documents: list[Document] = []
    meta: dict[int, _Meta] = {}
    for pk, heading, anchor, text, article_id, title, url, slug, *_ in rows:
        documents.append(Document(id=pk, question=f"{title} {heading}", answer=text))
        link = article_link_for(url=url, bot_slug=slug, article_id=article_id, anchor=anchor)
        meta[pk] = _Meta(article_id=article_id, title=title, heading=heading, url=link)
    dense = _dense_index(rows, embedder)
    index = PassageIndex(
        bm25=Bm25Index(
            documents,
            phrasing_weight=settings.SUPPORTBOT_PASSAGE_HEADING_WEIGHT,
            answer_weight=1.0,
        ),
        meta=meta,
        dense=dense,
        embedder=embedder if dense is not None else None,
    )
    with _lock:
        _indexes[bot_id] = (version, index)
    return index


def _refresh_later(bot_id: int) -> None:
    """Embed missing passage vectors off the search (a worker, or the embedded default's
    background thread)."""
    from conversations.knowledge.tasks import passage_vectors_refresh_task

    task_off_request(passage_vectors_refresh_task, bot_id)


def passage_index_forget(*, bot_id: int | None = None) -> None:
    with _lock:
        if bot_id is None:
            _indexes.clear()
        else:
            _indexes.pop(bot_id, None)


def passage_warm_up() -> None:
    """Build every bot's passage index now, so the first question after start-up is fast."""
    bot_ids = Article.objects.filter(is_published=True, indexed_version__gt=0).values_list(
        "bot_id", flat=True
    )
    for bot_id in sorted(set(bot_ids)):
        passage_index(bot_id=bot_id)


def _question_vector(index: PassageIndex, question: str) -> np.ndarray | None:
    if index.embedder is None or not question.strip():
        return None
    try:
        return index.embedder.embed([question])[0]
    except EmbeddingError:
        log.warning("Embedding the question failed; ranking passages by BM25 alone")
        return None


def passage_search_index(
    *, index: PassageIndex, question: str, limit: int = 3, fusion: str = "hybrid"
) -> PassageSearchResult:
    """Rank an index's passages for a question, at most one per article section.

    The mix: BM25 relative to the best passage, plus the cosine above a floor (below it two
    texts share little meaning, and its noise would reorder the BM25 ranking).
    """
    documents = index.bm25.documents
    if not documents:
        return PassageSearchResult(matches=[], no_good_match=True)
    query = index.bm25.query_terms(question)
    if query:
        score, coverage = index.bm25.scores(query)
    else:
        score, coverage = np.zeros(len(documents)), np.zeros(len(documents))
    vector = _question_vector(index, question) if fusion != "bm25" else None
    cosine = (
        index.dense.owner_scores(vector).astype(np.float64)
        if vector is not None and index.dense is not None
        else np.zeros(len(documents))
    )
    top = float(score.max())
    relative = score / top if top > 0 else score
    floor = settings.SUPPORTBOT_PASSAGE_COSINE_FLOOR
    dense = np.clip((cosine - floor) / (1.0 - floor), 0.0, None)
    if fusion == "bm25" or vector is None:
        mixed = relative
    elif fusion == "dense":
        mixed = cosine + 1e-3 * relative
    else:
        weight = settings.SUPPORTBOT_PASSAGE_DENSE_WEIGHT
        mixed = (1.0 - weight) * relative + weight * dense
    order = np.lexsort((np.arange(len(mixed)), -mixed))
    candidates: list[PassageMatch] = []
    seen: set[tuple[int, str]] = set()
    for i in order:
        if mixed[i] <= 0 or len(candidates) >= limit:
            break
        document = documents[i]
        meta = index.meta[document.id]
        if (meta.article_id, meta.heading) in seen:
            continue
        seen.add((meta.article_id, meta.heading))
        candidates.append(
            PassageMatch(
                id=document.id,
                article_id=meta.article_id,
                title=meta.title,
                heading=meta.heading,
                url=meta.url,
                text=document.answer,
                score=float(score[i]),
                coverage=float(coverage[i]),
                similarity=float(max(cosine[i], 0.0)),
            )
        )
    first = candidates[0] if candidates else None
    good = first is not None and (
        (
            first.score >= settings.SUPPORTBOT_PASSAGE_MIN_SCORE
            and first.coverage >= settings.SUPPORTBOT_PASSAGE_MIN_COVERAGE
            # Shared words are not enough when the meanings are far apart (vectors only).
            and (
                vector is None
                or _good_similarity(index) > 1.0
                or first.similarity >= settings.SUPPORTBOT_PASSAGE_LEXICAL_MIN_COSINE
            )
        )
        or first.similarity >= _good_similarity(index)
    )
    return PassageSearchResult(matches=candidates, no_good_match=not good)


def _good_similarity(index: PassageIndex) -> float:
    """The cosine that makes a passage a good match by meaning alone (MiniLM's scale; the
    hashed local embedder's cosines are lexical, so it never decides alone)."""
    name = getattr(index.embedder, "name", "")
    if not name or name.startswith("local-hash"):
        return 2.0
    return settings.SUPPORTBOT_PASSAGE_MIN_COSINE


def passage_search(*, bot_id: int, question: str, limit: int = 3) -> PassageSearchResult:
    """The best passages of a bot's published articles for a customer's question."""
    return passage_search_index(index=passage_index(bot_id=bot_id), question=question, limit=limit)
