"""What a finished conversation was about: title, summary, topic, sentiment, resolved by the bot.

Written when a conversation closes or goes idle, by the cheap model (SUPPORTBOT_INSIGHTS_MODEL,
gpt-4.1-nano by default) with several conversations per request, or by simple heuristics when
the engine is offline. A conversation a human answered is never counted as resolved by the bot.
"""

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from conversations.domain.text import text_storable
from conversations.models import Conversation, ConversationStatus, Message, MessageRole

logger = logging.getLogger(__name__)

TOPICS = {
    "order status": ("where is", "order", "track", "status", "arrive", "delivered", "package"),
    "returns and refunds": ("return", "refund", "money back", "exchange", "cancel"),
    "shipping": ("shipping", "ship", "delivery", "address", "courier"),
    "payment": ("payment", "pay", "charged", "card", "invoice", "paypal"),
    "product question": (
        "size",
        "colour",
        "color",
        "stock",
        "available",
        "product",
        "sell",
        "price",
    ),
    "account": ("account", "password", "login", "log in", "email"),
}
OTHER_TOPIC = "other"
SENTIMENTS = ("positive", "neutral", "negative")
_NEGATIVE = re.compile(
    r"\b(angry|annoyed|terrible|awful|worst|useless|ridiculous|unacceptable|disappointed|"
    r"frustrat\w*|still (?:not|no|waiting)|never|broken|wrong|bad|scam|complain\w*)\b",
    re.IGNORECASE,
)
_POSITIVE = re.compile(
    r"\b(thanks?|thank you|great|perfect|awesome|excellent|helpful|love|appreciate|"
    r"wonderful|brilliant|cheers)\b",
    re.IGNORECASE,
)
TRANSCRIPT_CHARS = 6000


@dataclass(frozen=True, slots=True)
class Insights:
    title: str
    summary: str
    topic: str
    sentiment: str
    resolved_by_bot: bool


def _summary(*, topic: str, first: str, messages: int, outcome: str) -> str:
    """One plain sentence an agent reads first, e.g. in the console's "So far"."""
    if not first:
        return "The customer wrote nothing."
    asked = "The customer wrote" if topic == OTHER_TOPIC else f"The customer asked about {topic}"
    said = first.rstrip(". ")
    said += "" if said.endswith(("?", "!")) else "."
    count = "1 customer message" if messages == 1 else f"{messages} customer messages"
    return f"{asked}: {said} {count}; {outcome}."


def _human_involved(conversation: Conversation, messages: list[Message]) -> bool:
    return conversation.handoff_requested_at is not None or any(
        m.role == MessageRole.AGENT for m in messages
    )


def insights_offline(conversation: Conversation, messages: list[Message]) -> Insights:
    """Keyword heuristics: good enough to sort and chart without a model."""
    said = [m.text for m in messages if m.role == MessageRole.CUSTOMER and m.text.strip()]
    first = said[0].strip() if said else ""
    title = (first.splitlines()[0][:80] if first else "Conversation without messages").strip()
    everything = " ".join(said).lower()
    scores = {
        topic: sum(everything.count(word) for word in words) for topic, words in TOPICS.items()
    }
    best = max(scores, key=scores.get) if scores else OTHER_TOPIC
    topic = best if scores.get(best) else OTHER_TOPIC
    negative = sum(len(_NEGATIVE.findall(text)) for text in said)
    positive = sum(len(_POSITIVE.findall(text)) for text in said)
    if conversation.csat_rating:
        positive += conversation.csat_rating >= 4
        negative += conversation.csat_rating <= 2
    sentiment = (
        "negative" if negative > positive else "positive" if positive > negative else "neutral"
    )
    human = _human_involved(conversation, messages)
    replied = any(m.role == MessageRole.ASSISTANT and m.text for m in messages)
    resolved = replied and not human and sentiment != "negative"
    outcome = (
        "handed to a human agent"
        if human
        else "answered by the bot"
        if replied
        else "no answer was given"
    )
    summary = _summary(topic=topic, first=first[:160], messages=len(said), outcome=outcome)
    return Insights(
        title=title,
        summary=summary,
        topic=topic,
        sentiment=sentiment,
        resolved_by_bot=resolved,
    )


def _transcript(messages: list[Message]) -> str:
    speaker = {
        MessageRole.CUSTOMER: "customer",
        MessageRole.ASSISTANT: "bot",
        MessageRole.AGENT: "human agent",
    }
    lines = [
        f"{speaker[m.role]}: {m.text.strip()}"
        for m in messages
        if m.role in speaker and m.text.strip()
    ]
    lines += [f"[event: {m.event}]" for m in messages if m.role == MessageRole.EVENT and m.event]
    text = "\n".join(lines)
    return text if len(text) <= TRANSCRIPT_CHARS else text[:TRANSCRIPT_CHARS] + "\n[...]"


INSIGHTS_PROMPT = (
    "You label customer-support chats for an online store. For each conversation return: "
    '"id" (as given), "title" (at most 8 words), "summary" (one or two sentences), "topic" '
    f"(one of: {', '.join([*TOPICS, OTHER_TOPIC])}), "
    '"sentiment" (the customer\'s: positive, neutral or negative) and "resolved" (true when '
    "the bot answered the customer's need without a human). Reply with JSON only: "
    '{"conversations": [{"id": ..., "title": ..., "summary": ..., "topic": ..., '
    '"sentiment": ..., "resolved": ...}]}'
)


def insights_openai(
    batch: list[tuple[Conversation, list[Message]]], *, client: Any = None
) -> dict[Any, Insights]:
    """One request to the cheap model for the whole batch; bad or missing items fall back."""
    from openai import OpenAI  # imported here: the offline default never loads the SDK

    client = client or OpenAI(
        api_key=settings.OPENAI_API_KEY or "not-needed",
        base_url=settings.OPENAI_BASE_URL or None,
        timeout=settings.OPENAI_TIMEOUT,
        max_retries=settings.OPENAI_MAX_RETRIES,
    )
    keys = {f"c{n}": (conversation, messages) for n, (conversation, messages) in enumerate(batch)}
    payload = [{"id": key, "transcript": _transcript(m)} for key, (_, m) in keys.items()]
    response = client.chat.completions.create(
        model=settings.SUPPORTBOT_INSIGHTS_MODEL,
        temperature=0,
        response_format={"type": "json_object"},
        messages=[
            {"role": "system", "content": INSIGHTS_PROMPT},
            {"role": "user", "content": json.dumps({"conversations": payload})},
        ],
    )
    try:
        items = json.loads(response.choices[0].message.content or "{}").get("conversations", [])
    except (ValueError, AttributeError):
        logger.warning("insights: the model did not return JSON")
        items = []
    results: dict[Any, Insights] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("id") not in keys:
            continue
        conversation, messages = keys[item["id"]]
        parsed = _parse(item, conversation=conversation, messages=messages)
        if parsed is not None:
            results[conversation.pk] = parsed
    for conversation, messages in keys.values():
        if conversation.pk not in results:
            results[conversation.pk] = insights_offline(conversation, messages)
    return results


def _parse(
    item: dict[str, Any], *, conversation: Conversation, messages: list[Message]
) -> Insights | None:
    title, summary = item.get("title"), item.get("summary")
    topic, sentiment = str(item.get("topic", "")).lower().strip(), item.get("sentiment")
    if not isinstance(title, str) or not isinstance(summary, str) or not title.strip():
        return None
    if sentiment not in SENTIMENTS:
        sentiment = "neutral"
    if topic not in TOPICS:
        topic = OTHER_TOPIC
    resolved = item.get("resolved") is True and not _human_involved(conversation, messages)
    return Insights(
        # What the model wrote, storable (it may send NUL or lone surrogates).
        title=text_storable(title.strip()[:200]),
        summary=text_storable(summary.strip()[:2000]),
        topic=topic[:60],
        sentiment=sentiment,
        resolved_by_bot=resolved,
    )


def insights_write(*, conversation_ids: list[Any], client: Any = None) -> int:
    """Compute and store insights for these conversations; returns how many were written."""
    conversations = list(
        Conversation.objects.filter(pk__in=conversation_ids, anonymised_at__isnull=True).order_by(
            "created_at", "pk"
        )
    )
    if not conversations:
        return 0
    by_conversation: dict[Any, list[Message]] = {c.pk: [] for c in conversations}
    for message in Message.objects.filter(conversation_id__in=by_conversation).order_by(
        "conversation_id", "seq"
    ):
        by_conversation[message.conversation_id].append(message)
    batch = [(c, by_conversation[c.pk]) for c in conversations]
    if settings.SUPPORTBOT_ENGINE == "offline" and client is None:
        results = {c.pk: insights_offline(c, m) for c, m in batch}
    else:
        # One request per bot: the model is as injectable as any, and whatever it was sent
        # may come back in any conversation's summary, which that bot's agents read.
        results = {}
        for bot_id in dict.fromkeys(c.bot_id for c in conversations):
            same_bot = [(c, m) for c, m in batch if c.bot_id == bot_id]
            results.update(insights_openai(same_bot, client=client))
    for conversation in conversations:
        found = results[conversation.pk]
        Conversation.objects.filter(pk=conversation.pk).update(
            title=found.title,
            summary=found.summary,
            topic=found.topic,
            sentiment=found.sentiment,
            resolved_by_bot=found.resolved_by_bot,
        )
    return len(conversations)


def insights_due(*, now: datetime | None = None, limit: int = 500) -> list[Any]:
    """Conversations without insights that have closed or gone idle, oldest first."""
    now = now or timezone.now()
    idle_since = now - timedelta(minutes=settings.SUPPORTBOT_INSIGHTS_IDLE_MINUTES)
    return list(
        Conversation.objects.filter(
            topic="", last_message_at__isnull=False, anonymised_at__isnull=True
        )
        .filter(
            Q(status=ConversationStatus.CLOSED)
            | Q(status=ConversationStatus.BOT, last_message_at__lte=idle_since)
        )
        .order_by("last_message_at")
        .values_list("pk", flat=True)[:limit]
    )


def insights_so_far(*, conversation_id: Any) -> Insights:
    """What a conversation is about right now, for an agent taking it over.

    The stored insights when they are written; otherwise the offline heuristics over the
    messages so far (instant, and no model call for every console that opens).
    """
    conversation = Conversation.objects.get(pk=conversation_id)
    if conversation.summary:
        return Insights(
            title=conversation.title,
            summary=conversation.summary,
            topic=conversation.topic,
            sentiment=conversation.sentiment,
            resolved_by_bot=bool(conversation.resolved_by_bot),
        )
    messages = list(
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(role=MessageRole.TOOL)
        .only("role", "text", "event")
        .order_by("seq")
    )
    return insights_offline(conversation, messages)
