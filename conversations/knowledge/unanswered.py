"""What customers asked that the bot could not answer: "no good match" searches and hand-offs,
grouped by similarity so the store sees what to write first.

Read from the rows already kept (tool runs and hand-off events), three queries for any number
of questions; a group the knowledge now answers well drops off the list.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from conversations.knowledge.learning import _SMALL_TALK, _scrubbed, only_asks_for_a_human
from conversations.knowledge.passage_answers import knowledge_answers
from conversations.knowledge.text import terms
from conversations.models import Message, MessageRole, ToolRun, ToolRunStatus

KNOWLEDGE_TOOLS = ("search_faq",)
SIMILAR = 0.5  # Jaccard similarity of two questions' terms to group them
MAX_QUESTIONS = 2000
NO_GOOD_MATCH = "no good match"
HANDED_OFF = "handed off"


@dataclass
class UnansweredGroup:
    question: str
    bot_id: int
    count: int = 0
    examples: list[str] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    last_seen: datetime | None = None
    conversation_ids: list[Any] = field(default_factory=list)
    _terms: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Asked:
    bot_id: int
    conversation_id: Any
    text: str
    reason: str
    at: datetime


def _customer_before(
    points: list[tuple[Any, int, str, datetime, int]],
) -> list[_Asked]:
    """For each (conversation, seq, reason, at, bot): the customer's last real message before it."""
    if not points:
        return []
    conversations = {c for c, *_ in points}
    said: dict[Any, list[tuple[int, str]]] = {}
    for conversation_id, seq, text in (
        Message.objects.filter(conversation_id__in=conversations, role=MessageRole.CUSTOMER)
        .order_by("conversation_id", "seq")
        .values_list("conversation_id", "seq", "text")
    ):
        said.setdefault(conversation_id, []).append((seq, text))
    found: list[_Asked] = []
    for conversation_id, seq, reason, at, bot_id in points:
        for earlier_seq, text in reversed(said.get(conversation_id, [])):
            if earlier_seq > seq:
                continue
            text = text.strip()
            if text and not only_asks_for_a_human(text) and not _SMALL_TALK.match(text):
                found.append(_Asked(bot_id, conversation_id, _scrubbed(text)[:300], reason, at))
                break
    return found


def unanswered_questions(*, bot_ids: list[int], since: datetime) -> list[_Asked]:
    """The customer questions since `since` that found no good match or were handed off."""
    runs = (
        ToolRun.objects.filter(
            tool__in=KNOWLEDGE_TOOLS,
            status=ToolRunStatus.SUCCEEDED,
            message__isnull=False,  # the bot's searches, not a copilot draft's
            created_at__gte=since,
            conversation__bot_id__in=bot_ids,
        )
        .order_by("-created_at")
        .values_list(
            "conversation_id", "message__seq", "result", "created_at", "conversation__bot_id"
        )[:MAX_QUESTIONS]
    )
    points = [
        (conversation_id, seq, NO_GOOD_MATCH, at, bot_id)
        for conversation_id, seq, result, at, bot_id in runs
        if ((result or {}).get("data") or {}).get("no_good_match")
    ]
    handoffs = (
        Message.objects.filter(
            Q(role=MessageRole.EVENT, event="handoff_requested"),
            created_at__gte=since,
            conversation__bot_id__in=bot_ids,
        )
        .order_by("-created_at")
        .values_list("conversation_id", "seq", "created_at", "conversation__bot_id")[:MAX_QUESTIONS]
    )
    points += [(c, seq, HANDED_OFF, at, bot_id) for c, seq, at, bot_id in handoffs]
    return _customer_before(points)


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def unanswered_groups(
    *, bot_ids: list[int], days: int = 30, now: datetime | None = None, limit: int = 50
) -> list[UnansweredGroup]:
    """The unanswered questions grouped by similarity, most asked first; answered ones left out."""
    since = (now or timezone.now()) - timedelta(days=days)
    groups: list[UnansweredGroup] = []
    # One question asked twice in one conversation (searched, then handed off) counts once.
    seen: set[tuple[Any, str]] = set()
    for asked in sorted(unanswered_questions(bot_ids=bot_ids, since=since), key=lambda a: a.at):
        if (asked.conversation_id, asked.text) in seen:
            continue
        seen.add((asked.conversation_id, asked.text))
        words = frozenset(terms(asked.text))
        group = max(
            (g for g in groups if g.bot_id == asked.bot_id),
            key=lambda g: _similarity(words, g._terms),
            default=None,
        )
        if group is None or _similarity(words, group._terms) < SIMILAR:
            group = UnansweredGroup(question=asked.text, bot_id=asked.bot_id, _terms=words)
            groups.append(group)
        group.count += 1
        group.reasons[asked.reason] += 1
        group.last_seen = asked.at
        if asked.conversation_id not in group.conversation_ids:
            group.conversation_ids.append(asked.conversation_id)
        if asked.text not in group.examples and len(group.examples) < 5:
            group.examples.append(asked.text)
    for group in groups:
        # The most telling example names the group: the one with a question mark, else the first.
        group.question = next((e for e in group.examples if "?" in e), group.examples[0])
    groups.sort(key=lambda g: (-g.count, -(g.last_seen.timestamp() if g.last_seen else 0)))
    return [g for g in groups if not _answered_now(g)][:limit]


def _answered_now(group: UnansweredGroup) -> bool:
    """Whether the FAQ or the articles answer the group's question well by now."""
    return knowledge_answers(bot_id=group.bot_id, question=group.question)
