"""Searching a bot's FAQ: ranked entries, and whether any of them is a good match at all."""

import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Max

from conversations.knowledge.bm25 import Bm25Index, Document
from conversations.models import FaqEntry


@dataclass(frozen=True, slots=True)
class FaqMatch:
    id: int
    question: str
    answer: str
    score: float
    coverage: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "score": round(self.score, 3),
        }


@dataclass(frozen=True, slots=True)
class FaqSearchResult:
    matches: list[FaqMatch]
    no_good_match: bool


# Per process: bot id -> (version, index). The version (count and latest updated_at of the
# published entries) is read on each search, so an edit saved by any process (the admin, an
# import) is seen by every worker. A queryset .update() must set updated_at too.
_indexes: dict[int, tuple[tuple[Any, ...], Bm25Index]] = {}
_lock = threading.Lock()


def _version(bot_id: int) -> tuple[Any, ...]:
    stats = FaqEntry.objects.filter(bot_id=bot_id, is_published=True).aggregate(
        count=Count("id"), changed=Max("updated_at")
    )
    return (stats["count"], stats["changed"])


def faq_index(*, bot_id: int) -> Bm25Index:
    """The bot's search index over its published entries, rebuilt when they change."""
    version = _version(bot_id)
    cached = _indexes.get(bot_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    entries = FaqEntry.objects.filter(bot_id=bot_id, is_published=True).order_by("id")
    index = Bm25Index(
        [
            Document(
                id=entry.pk,
                question=entry.question,
                answer=entry.answer,
                alternatives=tuple(str(a) for a in entry.alternatives or ()),
                tags=tuple(str(t) for t in entry.tags or ()),
            )
            for entry in entries
        ]
    )
    with _lock:
        _indexes[bot_id] = (version, index)
    return index


def faq_index_forget(*, bot_id: int | None = None) -> None:
    with _lock:
        if bot_id is None:
            _indexes.clear()
        else:
            _indexes.pop(bot_id, None)


def faq_search_index(*, index: Bm25Index, question: str, limit: int = 3) -> FaqSearchResult:
    """Rank an index's entries for a question; weak best matches mean "no good match"."""
    scored = index.search(question, limit=limit)
    matches = [
        FaqMatch(
            id=s.document.id,
            question=s.document.question,
            answer=s.document.answer,
            score=s.score,
            coverage=s.coverage,
        )
        for s in scored
    ]
    good = bool(matches) and (
        matches[0].score >= settings.SUPPORTBOT_FAQ_MIN_SCORE
        and matches[0].coverage >= settings.SUPPORTBOT_FAQ_MIN_COVERAGE
    )
    return FaqSearchResult(matches=matches, no_good_match=not good)


def faq_search(*, bot_id: int, question: str, limit: int = 3) -> FaqSearchResult:
    """The top published entries of a bot's FAQ for a customer's question."""
    return faq_search_index(index=faq_index(bot_id=bot_id), question=question, limit=limit)
