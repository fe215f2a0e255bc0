"""Searching a bot's article passages: the one seam between the tools and the ranking.

Today the ranking is the FAQ's BM25 (each passage scored on its article title and heading
path as phrasings and its text as the answer); the hybrid index of embeddings plugs in here
behind `passage_search` without the callers changing. Only the passages of each published
article's indexed version are searched, so a re-index in progress is never seen.
"""

import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Max

from conversations.knowledge.articles import article_link_for
from conversations.knowledge.bm25 import Bm25Index, Document
from conversations.models import Article, Passage


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
    return (stats["count"], stats["indexed"], stats["changed"])


def passage_index(*, bot_id: int) -> PassageIndex:
    """The bot's passage index over its published, indexed articles; rebuilt when they change."""
    version = _version(bot_id)
    cached = _indexes.get(bot_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    rows = (
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
        )
    )
    documents: list[Document] = []
    meta: dict[int, _Meta] = {}
    for pk, heading, anchor, text, article_id, title, url, slug in rows:
        documents.append(Document(id=pk, question=f"{title} {heading}", answer=text))
        link = article_link_for(url=url, bot_slug=slug, article_id=article_id, anchor=anchor)
        meta[pk] = _Meta(article_id=article_id, title=title, heading=heading, url=link)
    index = PassageIndex(
        bm25=Bm25Index(
            documents,
            phrasing_weight=settings.SUPPORTBOT_PASSAGE_HEADING_WEIGHT,
            answer_weight=1.0,
        ),
        meta=meta,
    )
    with _lock:
        _indexes[bot_id] = (version, index)
    return index


def passage_index_forget(*, bot_id: int | None = None) -> None:
    with _lock:
        if bot_id is None:
            _indexes.clear()
        else:
            _indexes.pop(bot_id, None)


def passage_search_index(
    *, index: PassageIndex, question: str, limit: int = 3
) -> PassageSearchResult:
    """Rank an index's passages for a question, at most one per article section."""
    scored = index.bm25.search(question, limit=limit * 4)
    candidates: list[PassageMatch] = []
    seen: set[tuple[int, str]] = set()
    for s in scored:
        meta = index.meta[s.document.id]
        if (meta.article_id, meta.heading) in seen:
            continue
        seen.add((meta.article_id, meta.heading))
        candidates.append(
            PassageMatch(
                id=s.document.id,
                article_id=meta.article_id,
                title=meta.title,
                heading=meta.heading,
                url=meta.url,
                text=s.document.answer,
                score=s.score,
                coverage=s.coverage,
            )
        )
    matches = candidates[:limit]
    good = bool(matches) and (
        matches[0].score >= settings.SUPPORTBOT_PASSAGE_MIN_SCORE
        and matches[0].coverage >= settings.SUPPORTBOT_PASSAGE_MIN_COVERAGE
    )
    return PassageSearchResult(matches=matches, no_good_match=not good)


def passage_search(*, bot_id: int, question: str, limit: int = 3) -> PassageSearchResult:
    """The best passages of a bot's published articles for a customer's question."""
    return passage_search_index(index=passage_index(bot_id=bot_id), question=question, limit=limit)
