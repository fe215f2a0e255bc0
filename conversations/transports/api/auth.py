"""API authentication: a per-bot key as a Bearer token, its scopes and its rate limit."""

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from conversations.edge.apikeys import api_key_authenticate, api_key_touch
from conversations.edge.ratelimit import rate_limit_hit
from conversations.models import ApiKey
from conversations.transports.api.errors import ApiError


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer sbk_...`: the key of one bot, with scopes."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = api_key_authenticate(secret=token.strip())
        if key is None:
            raise ApiError("invalid_api_key", "This API key is not valid.", status=401)
        if key.revoked_at is not None:
            raise ApiError("api_key_revoked", "This API key has been revoked.", status=401)
        if not key.bot.is_active:
            raise ApiError("bot_inactive", "This bot is switched off.", status=403)
        limit = rate_limit_hit(
            scope="api-key", subject=str(key.pk), limit=settings.SUPPORTBOT_RATE_PER_KEY_PER_MINUTE
        )
        if not limit.allowed:
            raise ApiError(
                "rate_limited",
                f"Too many requests for this key; retry in {limit.retry_after} s.",
                status=429,
                Retry_After=str(limit.retry_after),
            )
        api_key_touch(key=key)
        return key


def api_key(request: HttpRequest) -> ApiKey:
    return request.auth  # type: ignore[attr-defined]


def scope_require(request: HttpRequest, *scopes: str) -> ApiKey:
    """The request's key, if it carries one of `scopes`; else 403 insufficient_scope."""
    key = api_key(request)
    if not any(scope in key.scopes for scope in scopes):
        raise ApiError(
            "insufficient_scope",
            f"This API key lacks the scope for this call (needs {' or '.join(scopes)}).",
            status=403,
        )
    return key
