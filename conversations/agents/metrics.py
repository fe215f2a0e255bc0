"""The dashboard's figures: per day and in total, a handful of aggregate queries."""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Avg, Count, F, FloatField, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from conversations.models import Conversation, Message, MessageRole


class Median(Aggregate):
    """PostgreSQL's PERCENTILE_CONT(0.5); other databases take the Python fallback."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


@dataclass
class Day:
    day: date
    conversations: int = 0
    handoffs: int = 0
    resolved: int = 0
    classified: int = 0
    rated: int = 0
    csat: float | None = None
    tokens: int = 0
    cost: Decimal = Decimal(0)
    ttft_median_ms: float | None = None

    @property
    def resolution_rate(self) -> float | None:
        return self.resolved / self.classified if self.classified else None

    @property
    def handoff_rate(self) -> float | None:
        return self.handoffs / self.conversations if self.conversations else None


@dataclass
class Figures:
    start: date
    end: date
    days: list[Day]
    totals: Day
    topics: list[tuple[str, int]] = field(default_factory=list)

    @property
    def tokens_per_conversation(self) -> float | None:
        n = self.totals.conversations
        return self.totals.tokens / n if n else None

    @property
    def cost_per_conversation(self) -> Decimal | None:
        n = self.totals.conversations
        return self.totals.cost / n if n else None


def dashboard_figures(
    *,
    days: int = 30,
    bot_id: Any = None,
    bot_ids: list[Any] | None = None,
    now: datetime | None = None,
) -> Figures:
    """Conversations, resolution and hand-off rates, CSAT, TTFT, tokens and cost per day.

    `bot_ids`: only these bots (the viewer's); `bot_id`: only that one.
    """
    now = now or timezone.now()
    end = timezone.localdate(now)
    start = end - timedelta(days=days - 1)
    since = now - timedelta(days=days)
    conversations = Conversation.objects.filter(created_at__gte=since)
    replies = Message.objects.filter(
        role=MessageRole.ASSISTANT, created_at__gte=since, ttft_ms__isnull=False
    )
    if bot_ids is not None:
        conversations = conversations.filter(bot_id__in=bot_ids)
        replies = replies.filter(conversation__bot_id__in=bot_ids)
    if bot_id:
        conversations = conversations.filter(bot_id=bot_id)
        replies = replies.filter(conversation__bot_id=bot_id)

    per_day = {start + timedelta(days=n): Day(day=start + timedelta(days=n)) for n in range(days)}
    aggregates = {
        "conversations": Count("pk"),
        "handoffs": Count("pk", filter=Q(handoff_requested_at__isnull=False)),
        "resolved": Count("pk", filter=Q(resolved_by_bot=True)),
        "classified": Count("pk", filter=Q(resolved_by_bot__isnull=False)),
        "rated": Count("csat_rating"),
        "csat": Avg("csat_rating"),
        "tokens": Sum(F("prompt_tokens") + F("completion_tokens")),
        "cost": Sum("cost_usd"),
    }
    for row in (
        conversations.annotate(day=TruncDate("created_at")).values("day").annotate(**aggregates)
    ):
        if row["day"] in per_day:
            _fill(per_day[row["day"]], row)
    totals = Day(day=end)
    _fill(totals, conversations.aggregate(**aggregates))

    for day, median in _ttft_medians(replies):
        if day in per_day:
            per_day[day].ttft_median_ms = median
    totals.ttft_median_ms = _ttft_median(replies)

    topics = list(
        conversations.exclude(topic="")
        .values_list("topic")
        .annotate(n=Count("pk"))
        .order_by("-n", "topic")[:8]
    )
    return Figures(start=start, end=end, days=list(per_day.values()), totals=totals, topics=topics)


def _fill(day: Day, row: dict[str, Any]) -> None:
    for name in ("conversations", "handoffs", "resolved", "classified", "rated", "tokens"):
        setattr(day, name, row[name] or 0)
    day.csat = float(row["csat"]) if row["csat"] is not None else None
    day.cost = row["cost"] or Decimal(0)


def _ttft_medians(replies) -> list[tuple[date, float]]:
    if connection.vendor == "postgresql":
        rows = (
            replies.annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(median=Median("ttft_ms"))
        )
        return [(row["day"], row["median"]) for row in rows]
    grouped: dict[date, list[int]] = defaultdict(list)
    for created_at, ttft in replies.values_list("created_at", "ttft_ms").iterator():
        grouped[timezone.localdate(created_at)].append(ttft)
    return [(day, float(statistics.median(values))) for day, values in grouped.items()]


def _ttft_median(replies) -> float | None:
    if connection.vendor == "postgresql":
        return replies.aggregate(median=Median("ttft_ms"))["median"]
    values = list(replies.values_list("ttft_ms", flat=True))
    return float(statistics.median(values)) if values else None
