"""Which web pages may talk to a bot, and the CORS headers that tell the browser so.

One rule for every transport (the widget's HTTP endpoints, the customer's websocket, the API):
an origin is compared as `scheme://host[:port]`, lower-cased, without a trailing slash or path;
a bot's allowed origins may hold "*" for any page; and the server's own pages (the demo) are
always allowed.
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.core.cache import cache
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers

from conversations.models import Bot

ANY_ORIGIN = "*"
ALLOWED_ORIGINS_CACHE_KEY = "cors:all-allowed-origins"
ALLOWED_ORIGINS_CACHE_SECONDS = 60
CORS_MAX_AGE_SECONDS = 600


def origin_normalize(origin: str) -> str:
    """`scheme://host[:port]` in lower case, "*" for any, or "" for something that is neither."""
    origin = origin.strip()
    if origin == ANY_ORIGIN:
        return ANY_ORIGIN
    parts = urlsplit(origin.lower())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def origin_allowed(*, origin: str, allowed: Iterable[str], host: str = "") -> bool:
    """May a page at `origin` use a bot that allows `allowed`? `host`: this server's Host."""
    wanted = origin_normalize(origin)
    if not wanted or wanted == ANY_ORIGIN:
        return False
    permitted = {origin_normalize(o) for o in allowed if isinstance(o, str)}
    if ANY_ORIGIN in permitted or wanted in permitted:
        return True
    return bool(host) and urlsplit(wanted).netloc == host.strip().lower()


def bot_origin_allowed(*, bot: Bot, origin: str, host: str = "") -> bool:
    return origin_allowed(origin=origin, allowed=bot.allowed_origins or [], host=host)


def origin_known(*, origin: str, host: str = "") -> bool:
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
                if isinstance(o, str)
            }
            - {""}
        )
        cache.set(ALLOWED_ORIGINS_CACHE_KEY, origins, ALLOWED_ORIGINS_CACHE_SECONDS)
    return origin_allowed(origin=origin, allowed=origins, host=host)


def cors_headers_set(
    response: HttpResponse,
    *,
    origin: str,
    methods: str = "",
    headers: str = "",
    expose: str = "",
) -> HttpResponse:
    """The one CORS header writer: allow `origin` (already checked), and say what it may do.

    `methods` and `headers` answer a preflight; `expose` lists headers a page may read.
    """
    response["Access-Control-Allow-Origin"] = origin
    if methods:
        response["Access-Control-Allow-Methods"] = methods
        response["Access-Control-Allow-Headers"] = headers
        response["Access-Control-Max-Age"] = str(CORS_MAX_AGE_SECONDS)
    if expose:
        response["Access-Control-Expose-Headers"] = expose
    patch_vary_headers(response, ["Origin"])
    return response
