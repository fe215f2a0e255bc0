"""Searching a bot's FAQ: ranked entries with a confidence, and whether any of them fits.

Hybrid: BM25 and the entries' phrasing vectors, mixed by the bot's router (fitted on its own
phrasings, conversations.knowledge.hybrid). See docs/knowledge.md for the measured choice.
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from conversations.knowledge.bm25 import Document
from conversations.knowledge.embedding import EmbeddingError, embedder_for
from conversations.knowledge.hybrid import HybridIndex, RouterParams, index_version, router_fit
from conversations.knowledge.index import faq_entry_vectors, faq_vectors_refresh
from conversations.models import FaqEntry, FaqRouter

log = logging.getLogger(__name__)

# Routers of bots up to this many phrasings are fitted in-process when missing (well under a
# second); larger ones wait for the background task and use the default mix meanwhile.
FIT_INLINE_MAX_PHRASINGS = 3000


@dataclass(frozen=True, slots=True)
class FaqMatch:
    id: int
    question: str
    answer: str
    score: float
    coverage: float
    confidence: float = 0.0
    alternatives: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "alternatives": list(self.alternatives),
            "confidence": round(self.confidence, 3),
        }


@dataclass(frozen=True, slots=True)
class FaqSearchResult:
    matches: list[FaqMatch]
    no_good_match: bool
    # The best two are too close to tell apart: ask which one the customer means.
    ambiguous: bool = False


@dataclass
class FaqIndex:
    hybrid: HybridIndex
    embedder: Any  # None when embeddings are off


# Per process: bot id -> (version, index). The version (count and latest updated_at of the
# published entries, the router's fit time and the embedder) is read on each search, so an
# edit saved by any process is seen by every worker. A queryset .update() must set updated_at.
_indexes: dict[int, tuple[tuple[Any, ...], FaqIndex]] = {}
_lock = threading.Lock()


def _version(bot_id: int) -> tuple[Any, ...]:
    stats = FaqEntry.objects.filter(bot_id=bot_id, is_published=True).aggregate(
        count=Count("id"), changed=Max("updated_at")
    )
    fitted = FaqRouter.objects.filter(bot_id=bot_id).values_list("fitted_at", flat=True).first()
    embedder = embedder_for()
    return (stats["count"], stats["changed"], fitted, embedder.name if embedder else "")


def _documents_and_blocks(
    bot_id: int, embedder: Any
) -> tuple[list[Document], list[np.ndarray] | None]:
    entries = list(FaqEntry.objects.filter(bot_id=bot_id, is_published=True).order_by("id"))
    if embedder is not None and any(
        faq_entry_vectors(e, embedder=embedder) is None for e in entries
    ):
        try:
            faq_vectors_refresh(bot_id=bot_id, embedder=embedder)
        except EmbeddingError:
            log.warning("FAQ vectors of bot %s unavailable; searching BM25 only", bot_id)
            embedder = None
        entries = list(FaqEntry.objects.filter(bot_id=bot_id, is_published=True).order_by("id"))
    documents = [
        Document(
            id=entry.pk,
            question=entry.question,
            answer=entry.answer,
            alternatives=tuple(str(a) for a in entry.alternatives or () if str(a).strip()),
            tags=tuple(str(t) for t in entry.tags or ()),
        )
        for entry in entries
    ]
    if embedder is None:
        return documents, None
    blocks = [faq_entry_vectors(entry, embedder=embedder) for entry in entries]
    if any(block is None for block in blocks):
        return documents, None
    return documents, blocks  # type: ignore[return-value]


def faq_router_fit(*, bot_id: int) -> FaqRouter | None:
    """Fit the bot's router on its own published entries and store it (idempotent)."""
    embedder = embedder_for()
    documents, blocks = _documents_and_blocks(bot_id, embedder)
    if not documents:
        return None
    version = index_version(documents, embedder.name if embedder and blocks else "")
    stored = FaqRouter.objects.filter(bot_id=bot_id).first()
    if stored is not None and stored.version == version:
        return stored
    hybrid = HybridIndex(documents, blocks=blocks)
    params = router_fit(hybrid, good_refused=settings.SUPPORTBOT_FAQ_GOOD_REFUSED)
    router, _ = FaqRouter.objects.update_or_create(
        bot_id=bot_id, defaults={"version": version, "params": params.to_json()}
    )
    return router


def faq_index(*, bot_id: int) -> FaqIndex:
    """The bot's search index over its published entries, rebuilt when they change."""
    version = _version(bot_id)
    cached = _indexes.get(bot_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    embedder = embedder_for()
    documents, blocks = _documents_and_blocks(bot_id, embedder)
    fitted_on = index_version(documents, embedder.name if embedder and blocks else "")
    router = FaqRouter.objects.filter(bot_id=bot_id).first()
    if documents and (router is None or router.version != fitted_on):
        phrasings = sum(1 + len(d.alternatives) for d in documents)
        if phrasings <= FIT_INLINE_MAX_PHRASINGS:
            router = faq_router_fit(bot_id=bot_id)
        else:
            from conversations.knowledge.index import faq_vectors_refresh_queue

            faq_vectors_refresh_queue(bot_id=bot_id)
            router = None
    params = (
        RouterParams.from_json(router.params)
        if router is not None and router.version == fitted_on
        else RouterParams()
    )
    index = FaqIndex(
        hybrid=HybridIndex(documents, blocks=blocks, params=params),
        embedder=embedder if blocks is not None else None,
    )
    with _lock:
        _indexes[bot_id] = (_version(bot_id), index)
    return index


def faq_index_forget(*, bot_id: int | None = None) -> None:
    with _lock:
        if bot_id is None:
            _indexes.clear()
        else:
            _indexes.pop(bot_id, None)


def faq_search_index(*, index: FaqIndex, question: str, limit: int = 3) -> FaqSearchResult:
    """Rank an index's entries for a question; a low confidence means "no good match"."""
    vector = None
    if index.embedder is not None and question.strip():
        try:
            vector = index.embedder.embed([question])[0]
        except EmbeddingError:
            log.warning("Embedding the question failed; ranking it by BM25 alone", exc_info=True)
    hybrid = index.hybrid
    ranked = hybrid.rank(question, vector, limit=limit)
    matches = [
        FaqMatch(
            id=r.document.id,
            question=r.document.question,
            answer=r.document.answer,
            score=r.mix,
            coverage=r.coverage,
            confidence=r.confidence,
            alternatives=r.document.alternatives,
        )
        for r in ranked
    ]
    good = bool(matches) and matches[0].confidence >= hybrid.params.threshold
    ambiguous = (
        good
        and len(ranked) > 1
        and ranked[0].mix - ranked[1].mix < hybrid.params.margin
        and ranked[1].confidence >= hybrid.params.threshold
    )
    return FaqSearchResult(matches=matches, no_good_match=not good, ambiguous=ambiguous)


def faq_search(*, bot_id: int, question: str, limit: int = 3) -> FaqSearchResult:
    """The top published entries of a bot's FAQ for a customer's question."""
    return faq_search_index(index=faq_index(bot_id=bot_id), question=question, limit=limit)


def knowledge_warm_up(*, background: bool = True) -> None:
    """Load the embedder and every bot's index now, so the first question after start-up is
    as fast as the rest (loading MiniLM and building a 1,000-entry index take a moment)."""

    def warm() -> None:
        from django.db import connections

        try:
            embedder = embedder_for()
            if embedder is not None and settings.SUPPORTBOT_EMBEDDING_BACKEND != "openai":
                embedder.embed(["warm up"])
            bot_ids = (
                FaqEntry.objects.filter(is_published=True)
                .values_list("bot_id", flat=True)
                .distinct()
            )
            for bot_id in list(bot_ids):
                faq_index(bot_id=bot_id)
            from conversations.knowledge.passage_search import passage_warm_up

            passage_warm_up()
        except Exception:  # a cold start is slower, never broken
            log.warning("Knowledge warm-up failed", exc_info=True)
        finally:
            if background:  # the thread's own connection
                connections.close_all()

    if background:
        threading.Thread(target=warm, name="knowledge-warm-up", daemon=True).start()
    else:
        warm()
