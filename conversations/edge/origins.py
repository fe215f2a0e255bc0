"""Cross-origin rules: a browser may call us only from an origin its bot allows."""

from urllib.parse import urlsplit

from django.core.cache import cache

from conversations.models import Bot

ALLOWED_ORIGINS_CACHE_KEY = "cors:all-allowed-origins"
ALLOWED_ORIGINS_CACHE_SECONDS = 60


def origin_normalize(origin: str) -> str:
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def cors_origin_allowed(*, bot: Bot, origin: str) -> bool:
    """Is `origin` one of the bot's allowed origins? (scheme, host and port must match)."""
    wanted = origin_normalize(origin)
    return bool(wanted) and wanted in {origin_normalize(o) for o in bot.allowed_origins or []}


def cors_origin_known(*, origin: str) -> bool:
    """Does any active bot allow `origin`? Preflights carry no key, so this is all we can ask."""
    origins = cache.get(ALLOWED_ORIGINS_CACHE_KEY)
    if origins is None:
        origins = sorted(
            {
                origin_normalize(o)
                for allowed in Bot.objects.filter(is_active=True).values_list(
                    "allowed_origins", flat=True
                )
                for o in (allowed or [])
            }
            - {""}
        )
        cache.set(ALLOWED_ORIGINS_CACHE_KEY, origins, ALLOWED_ORIGINS_CACHE_SECONDS)
    wanted = origin_normalize(origin)
    return bool(wanted) and wanted in origins
