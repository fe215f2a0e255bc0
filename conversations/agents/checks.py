"""Start-up checks for the agents' settings: a bad opening-hours value fails `manage.py check`."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from conversations.agents.hours import openings_parse


@register()
def agent_hours_check(app_configs, **kwargs):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    errors = []
    try:
        openings_parse(settings.SUPPORTBOT_AGENT_HOURS)
    except ImproperlyConfigured as error:
        errors.append(Error(str(error), id="supportbot.E101"))
    try:
        ZoneInfo(settings.SUPPORTBOT_AGENT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(
            Error(
                f"SUPPORTBOT_AGENT_TIMEZONE={settings.SUPPORTBOT_AGENT_TIMEZONE!r} is not a "
                "time zone.",
                id="supportbot.E102",
            )
        )
    return errors
