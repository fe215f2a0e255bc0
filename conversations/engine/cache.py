"""Answers to repeated FAQ-type questions, per bot, with hits and misses counted.

Only a question with no customer data in it (no order number, email, ZIP or long number, no
image) is looked up, and only a reply grounded purely in the FAQ (search_faq and nothing
else, with a good match) is stored. The key includes the FAQ's version, so editing an entry
retires the answers built on it. Stored in Django's cache: Redis when REDIS_URL is set.
"""

import hashlib
import re
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max

from conversations.database import database_call
from conversations.domain.events import AssistantDelta, AssistantDone, AssistantStarted, Event
from conversations.engine import persistence
from conversations.engine.backends import Usage
from conversations.models import FaqEntry, MessageState

if TYPE_CHECKING:
    from conversations.engine.context import History

CACHE_PIECE_CHARS = 24  # a replayed answer streams in pieces this long
PERSONAL = re.compile(r"@|#\s?\w*\d|\d{4,}")
WORDS = re.compile(r"[a-z0-9']+")
CACHEABLE_TOOLS = {"search_faq"}


def question_normalize(text: str) -> str:
    return " ".join(WORDS.findall(text.lower()))


def question_cacheable(*, text: str, images: int = 0) -> bool:
    if not settings.SUPPORTBOT_REPLY_CACHE_SECONDS or images:
        return False
    words = question_normalize(text).split()
    return 3 <= len(words) <= 60 and not PERSONAL.search(text)


def faq_version(*, bot_id: int) -> str:
    """Changes whenever the bot's FAQ does (an entry added, removed or edited)."""
    stats = FaqEntry.objects.filter(bot_id=bot_id).aggregate(n=Count("id"), at=Max("updated_at"))
    return f"{stats['n']}:{stats['at'].timestamp() if stats['at'] else 0}"


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


def cache_lookup(*, history: "History", engine: str, model: str) -> tuple[str | None, Any]:
    last = history.last_customer
    if last is None or not question_cacheable(text=last.text, images=history.last_customer_images):
        return None, None
    key = reply_cache_key(
        bot_id=history.bot.pk,
        engine=engine,
        model=model,
        text=last.text,
        version=faq_version(bot_id=history.bot.pk),
    )
    return key, reply_cache_get(key=key, bot_id=history.bot.pk)


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
