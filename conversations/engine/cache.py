"""Answers to repeated FAQ questions, per bot, with hits and misses counted.

The cache must never carry one conversation's data to another (docs/security.md). So only
the first turn of an anonymous conversation is stored, a question with no customer data in
it (no order number, email, ZIP or long number, no image), answered with search_faq alone,
citing only entries that the question itself retrieves. The key is those entries and their
versions, so editing one retires the answers built on it. Before it is stored, the text is
checked against the entries it cites: a URL, email address or number that is not in them
(an order number, a tracking number, a card ending, an injected link) keeps it out. Stored in
Django's cache: Redis when REDIS_URL is set.

Finding the entries means a FAQ search (a MiniLM embedding of the question: milliseconds of
CPU), so a lookup makes one only for a question that has been answered into the cache before
(a marker under the question alone says so); the answer to store looks its entries up when it
is stored, and is refused if any of them changed after the question was asked.
"""

import datetime
import hashlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from conversations.database import database_call
from conversations.domain.events import AssistantDelta, AssistantDone, AssistantStarted, Event
from conversations.engine import persistence
from conversations.engine.backends import Usage
from conversations.knowledge import faq_search
from conversations.models import Customer, FaqEntry, MessageState

if TYPE_CHECKING:
    from conversations.engine.context import History

CACHE_PIECE_CHARS = 24  # a replayed answer streams in pieces this long
PERSONAL = re.compile(r"@|#\s?\w*\d|\d{4,}")
WORDS = re.compile(r"[a-z0-9']+")
CACHEABLE_TOOLS = {"search_faq"}
# What a reply must not add to its sources: links and domains, email addresses, numbers.
LINK = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NUMBER = re.compile(r"\d+")
ENTRIES = 3


@dataclass(frozen=True, slots=True)
class CacheSlot:
    """Where a first-turn answer may be stored: its key and the FAQ entries it may cite."""

    key: str
    entry_ids: frozenset[int]


def question_normalize(text: str) -> str:
    return " ".join(WORDS.findall(text.lower()))


def question_cacheable(*, text: str, images: int = 0) -> bool:
    if not settings.SUPPORTBOT_REPLY_CACHE_SECONDS or images:
        return False
    words = question_normalize(text).split()
    return 3 <= len(words) <= 60 and not PERSONAL.search(text)


def _first_turn(history: "History") -> bool:
    """Nothing before the customer's question: no earlier turns, no summary of any."""
    if history.summary or len(history.turns) != 1:
        return False
    messages = history.turns[0].messages
    return len(messages) == 1 and messages[0].get("role") == "user"


@dataclass(frozen=True, slots=True)
class CacheQuestion:
    """A first turn's question: looked up in the cache, and its answer perhaps stored."""

    bot_id: int
    engine: str
    model: str
    text: str
    asked_at: datetime.datetime


def _entries_version(
    *, bot_id: int, question: str, changed_after: datetime.datetime | None = None
) -> tuple[str, frozenset[int]] | None:
    """The published entries the question retrieves, with their versions; None: no good match
    (or, with `changed_after`, one of them was edited since then)."""
    result = faq_search(bot_id=bot_id, question=question, limit=ENTRIES)
    if result.no_good_match or not result.matches:
        return None
    ids = [m.id for m in result.matches]
    stamps = dict(
        FaqEntry.objects.filter(bot_id=bot_id, pk__in=ids).values_list("pk", "updated_at")
    )
    if changed_after is not None and any(
        stamp is not None and stamp > changed_after for stamp in stamps.values()
    ):
        return None
    version = ",".join(
        f"{pk}@{stamps[pk].timestamp() if stamps.get(pk) else 0}" for pk in sorted(ids)
    )
    return version, frozenset(ids)


def _question_key(question: CacheQuestion) -> str:
    """The marker that an answer to this question was stored (under whichever entries)."""
    digest = hashlib.sha256(
        f"{question.engine}|{question.model}|{question_normalize(question.text)}".encode()
    ).hexdigest()[:32]
    return f"engine:reply-question:{question.bot_id}:{digest}"


def _slot(question: CacheQuestion, *, changed_after: datetime.datetime | None) -> CacheSlot | None:
    retrieved = _entries_version(
        bot_id=question.bot_id, question=question.text, changed_after=changed_after
    )
    if retrieved is None:
        return None
    version, entry_ids = retrieved
    key = reply_cache_key(
        bot_id=question.bot_id,
        engine=question.engine,
        model=question.model,
        text=question.text,
        version=version,
    )
    return CacheSlot(key=key, entry_ids=entry_ids)


def reply_cache_key(*, bot_id: int, engine: str, model: str, text: str, version: str) -> str:
    digest = hashlib.sha256(
        f"{engine}|{model}|{version}|{question_normalize(text)}".encode()
    ).hexdigest()[:32]
    return f"engine:reply:{bot_id}:{digest}"


def _count(bot_id: int, outcome: str) -> None:
    key = f"engine:reply-cache:{outcome}:{bot_id}"
    try:
        cache.incr(key)
    except ValueError:
        cache.add(key, 0, timeout=None)
        cache.incr(key)


def reply_cache_get(*, key: str, bot_id: int) -> dict[str, Any] | None:
    hit = cache.get(key)
    _count(bot_id, "hits" if hit is not None else "misses")
    return hit


def reply_cache_set(*, key: str, text: str, sources: list[dict[str, Any]]) -> None:
    cache.set(key, {"text": text, "sources": sources}, settings.SUPPORTBOT_REPLY_CACHE_SECONDS)


def reply_cache_stats(*, bot_id: int) -> dict[str, int]:
    return {
        outcome: int(cache.get(f"engine:reply-cache:{outcome}:{bot_id}") or 0)
        for outcome in ("hits", "misses")
    }


def reply_cacheable(*, tools_used: list[str], outcomes_ok: bool, finish_reason: str) -> bool:
    """Whether a finished reply may be reused: grounded in the FAQ alone, complete."""
    return (
        finish_reason == "stop"
        and outcomes_ok
        and bool(tools_used)
        and set(tools_used) <= CACHEABLE_TOOLS
    )


def text_grounded(*, text: str, sources_text: str) -> bool:
    """No link, email address or number in `text` that its sources do not contain."""
    have = sources_text.casefold()
    said = text.casefold()
    for pattern in (EMAIL, LINK):
        for found in pattern.findall(said):
            if found.rstrip(".,;:!?)") not in have:
                return False
    return set(NUMBER.findall(said)) <= set(NUMBER.findall(have))


def reply_cache_store(
    *, slot: CacheSlot, bot_id: int, customer: Customer, text: str, sources: list[dict[str, Any]]
) -> bool:
    """Store a finished first-turn answer if nothing in it can be one conversation's own."""
    if customer.is_verified or customer.email or customer.external_id:
        return False  # the prompt named the customer
    if any(s.get("type") == "article" for s in sources):
        return False  # keyed on FAQ entries only: an article's edit would not retire it
    cited = {s.get("id") for s in sources}
    if not cited or not cited <= slot.entry_ids:
        return False
    entries = FaqEntry.objects.filter(bot_id=bot_id, pk__in=cited, is_published=True)
    sources_text = "\n".join(f"{e.question}\n{e.answer}" for e in entries)
    if len(entries) != len(cited) or not text_grounded(text=text, sources_text=sources_text):
        return False
    reply_cache_set(key=slot.key, text=text, sources=sources)
    return True


def reply_cache_answer_store(
    *, question: CacheQuestion, customer: Customer, text: str, sources: list[dict[str, Any]]
) -> bool:
    """Store a finished first-turn answer under the entries its question retrieves now, unless
    one of them changed after the question was asked (the answer may rest on the old text)."""
    if customer.is_verified or customer.email or customer.external_id:
        return False  # before the search: reply_cache_store refuses these anyway
    slot = _slot(question, changed_after=question.asked_at)
    if slot is None or not reply_cache_store(
        slot=slot, bot_id=question.bot_id, customer=customer, text=text, sources=sources
    ):
        return False
    cache.set(_question_key(question), True, settings.SUPPORTBOT_REPLY_CACHE_SECONDS)
    return True


def cache_lookup(
    *, history: "History", engine: str, model: str
) -> tuple[CacheQuestion | None, Any]:
    """The question (if its answer may be cached) and the cached answer, if there is one."""
    last = history.last_customer
    if (
        last is None
        or not question_cacheable(text=last.text, images=history.last_customer_images)
        or not _first_turn(history)
    ):
        return None, None
    bot_id = history.bot.pk
    question = CacheQuestion(
        bot_id=bot_id, engine=engine, model=model, text=last.text, asked_at=timezone.now()
    )
    if cache.get(_question_key(question)) is None:
        _count(bot_id, "misses")  # never answered into the cache: no search needed
        return question, None
    slot = _slot(question, changed_after=None)
    if slot is None:
        _count(bot_id, "misses")
        return question, None
    return question, reply_cache_get(key=slot.key, bot_id=bot_id)


async def cached_reply_stream(
    *, conversation_id: Any, history: "History", engine: str, hit: dict[str, Any]
) -> AsyncIterator[Event]:
    """The stored answer replayed as a reply: a row, its text in small pieces, done."""
    started = time.monotonic()
    message = await database_call(persistence.assistant_row_create)(
        conversation_id=conversation_id, engine="cache", model=history.model, allow_waiting=False
    )
    if message is None:
        return
    yield AssistantStarted(seq=message.seq, message_id=message.pk, engine="cache", model="cache")
    text = hit["text"]
    for start in range(0, len(text), CACHE_PIECE_CHARS):
        yield AssistantDelta(seq=message.seq, text=text[start : start + CACHE_PIECE_CHARS])
    ms = int((time.monotonic() - started) * 1000)
    state, reason = await database_call(persistence.row_finish)(
        conversation_id=conversation_id,
        message_id=message.pk,
        allow_waiting=False,
        usage=Usage(0, 0, 0),
        cost=Decimal(0),
        text=text,
        state=MessageState.COMPLETE,
        finish_reason="stop",
        sources=hit.get("sources") or [],
        ttft_ms=ms,
        duration_ms=ms,
        data={"cached": True},
    )
    yield AssistantDone(
        seq=message.seq,
        message_id=message.pk,
        text=text,
        state=state,
        finish_reason=reason,
        cost_usd="0.00000000",
        ttft_ms=ms,
        duration_ms=ms,
        sources=hit.get("sources") or [],
    )
