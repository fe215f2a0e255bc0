"""When agents are at work: SUPPORTBOT_AGENT_HOURS like "mon-fri 09:00-17:30" (empty: always)."""

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_PATTERN = re.compile(
    r"^\s*(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)


@dataclass(frozen=True, slots=True)
class Opening:
    days: frozenset[int]
    start: time
    end: time


def openings_parse(value: str) -> list[Opening]:
    """Comma-separated spans, e.g. "mon-fri 09:00-17:00, sat 10:00-14:00"; bad text raises."""
    openings = []
    for part in filter(None, (p.strip().lower() for p in value.split(","))):
        match = _PATTERN.match(part)
        if not match or match["first"] not in DAYS or (match["last"] or "mon") not in DAYS:
            raise ImproperlyConfigured(
                f"SUPPORTBOT_AGENT_HOURS: {part!r} is not like 'mon-fri 09:00-17:00'."
            )
        first = DAYS.index(match["first"])
        last = DAYS.index(match["last"] or match["first"])
        days = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
        try:
            start = time.fromisoformat(match["start"].zfill(5))
            end = time.fromisoformat(match["end"].zfill(5))
        except ValueError:
            raise ImproperlyConfigured(f"SUPPORTBOT_AGENT_HOURS: bad time in {part!r}.") from None
        openings.append(Opening(days=frozenset(days), start=start, end=end))
    return openings


def agents_at_work(*, now: datetime, hours: str | None = None, tz: str | None = None) -> bool:
    """Whether `now` falls in the agents' opening hours (no hours configured: always)."""
    openings = openings_parse(settings.SUPPORTBOT_AGENT_HOURS if hours is None else hours)
    if not openings:
        return True
    local = now.astimezone(ZoneInfo(tz or settings.SUPPORTBOT_AGENT_TIMEZONE))
    return any(local.weekday() in o.days and o.start <= local.time() < o.end for o in openings)


def agents_back_at(
    *, now: datetime, hours: str | None = None, tz: str | None = None
) -> datetime | None:
    """When the next opening starts after `now` (None: no hours configured, or at work now)."""
    openings = openings_parse(settings.SUPPORTBOT_AGENT_HOURS if hours is None else hours)
    if not openings or agents_at_work(now=now, hours=hours, tz=tz):
        return None
    zone = ZoneInfo(tz or settings.SUPPORTBOT_AGENT_TIMEZONE)
    local = now.astimezone(zone)
    starts = [
        datetime.combine(day, opening.start, tzinfo=zone)
        for day in (local.date() + timedelta(days=n) for n in range(8))
        for opening in openings
        if day.weekday() in opening.days
    ]
    later = [start for start in starts if start > local]
    return min(later) if later else None


def agents_availability(*, now: datetime) -> dict[str, Any]:
    """The status line's facts: whether agents are at work, else when they are back."""
    back_at = agents_back_at(now=now)
    return {
        "available": back_at is None and agents_at_work(now=now),
        "back_at": back_at.isoformat() if back_at else None,
    }
