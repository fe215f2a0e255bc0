from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from conversations.agents.hours import agents_at_work, agents_availability, agents_back_at

MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SATURDAY_10 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours", "now", "expected"),
    [
        ("", SATURDAY_10, True),
        ("mon-fri 09:00-17:00", MONDAY_10, True),
        ("mon-fri 09:00-17:00", SATURDAY_10, False),
        ("mon-fri 11:00-17:00", MONDAY_10, False),
        ("mon-fri 09:00-17:00, sat 09:30-12:00", SATURDAY_10, True),
        ("fri-mon 9:00-17:00", SATURDAY_10, True),
    ],
)
def test_opening_hours(hours, now, expected):
    assert agents_at_work(now=now, hours=hours, tz="UTC") is expected


def test_opening_hours_follow_the_agents_time_zone():
    # 10:00 UTC is 19:00 in Tokyo: closed there.
    assert not agents_at_work(now=MONDAY_10, hours="mon-fri 09:00-17:00", tz="Asia/Tokyo")


@pytest.mark.parametrize("hours", ["weekdays 9-5", "mon-fri 25:00-26:00", "xyz 09:00-10:00"])
def test_bad_hours_fail_loudly(hours):
    with pytest.raises(ImproperlyConfigured):
        agents_at_work(now=MONDAY_10, hours=hours)


def test_bad_settings_fail_the_system_check(settings):
    from conversations.agents.checks import agent_hours_check

    assert agent_hours_check(None) == []
    settings.SUPPORTBOT_AGENT_HOURS = "weekdays"
    settings.SUPPORTBOT_AGENT_TIMEZONE = "Mars/Olympus"
    assert [e.id for e in agent_hours_check(None)] == ["supportbot.E101", "supportbot.E102"]


@pytest.mark.parametrize(
    ("hours", "now", "expected"),
    [
        ("", SATURDAY_10, None),
        ("mon-fri 09:00-17:00", MONDAY_10, None),
        ("mon-fri 09:00-17:00", SATURDAY_10, datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),
        ("mon-fri 11:00-17:00", MONDAY_10, datetime(2026, 11, 30, 11, 0, tzinfo=UTC)),
        ("mon 09:00-10:00", MONDAY_10, datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
    ],
)
def test_when_agents_are_back(hours, now, expected):
    assert agents_back_at(now=now, hours=hours, tz="UTC") == expected


def test_agents_are_back_in_their_time_zone():
    back = agents_back_at(now=MONDAY_10, hours="mon-fri 09:00-17:00", tz="Asia/Tokyo")
    assert back == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # Tuesday 09:00 in Tokyo


def test_the_widget_learns_when_agents_are_back(settings):
    settings.SUPPORTBOT_AGENT_HOURS = "mon-fri 09:00-17:00"
    assert agents_availability(now=SATURDAY_10) == {
        "available": False,
        "back_at": "2026-11-30T09:00:00+00:00",
    }
    assert agents_availability(now=MONDAY_10) == {"available": True, "back_at": None}
