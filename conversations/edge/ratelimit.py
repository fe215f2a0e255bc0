"""Rate limits: sliding windows on the Django cache (Redis in production) for the API and the
widget, shared by every process; a token bucket for one websocket's own pace.

The window is approximated the usual way: the count of the current fixed window plus the
previous window's count weighted by how much of it still overlaps. Two cache keys per
subject, one atomic increment per hit; every process that shares the cache shares the limit.

Use `rate_limit_hit` (or `arate_limit_hit` from async code) anywhere, or wrap a Django view
with `@rate_limited(scope="widget", limit=..., per=60)`: the view is keyed by client IP and
answers 429 with Retry-After when the limit is passed.
"""

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest, JsonResponse

from conversations.database import blocking_call
from conversations.edge.responses import error_response

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateLimit:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # whole seconds; 0 when allowed


# Counts kept in this process while the shared cache (Redis) is away: each process then limits
# on its own rather than failing every request, or letting every request through.
_local_counts = LocMemCache("supportbot-ratelimit-fallback", {"OPTIONS": {"MAX_ENTRIES": 10000}})
_last_warning = 0.0


def rate_limit_hit(*, scope: str, subject: str, limit: int, per: float = 60.0) -> RateLimit:
    """Count one hit for `subject` under `scope` and say whether it is within `limit` per `per`."""
    global _last_warning
    try:
        return _hit(cache, scope=scope, subject=subject, limit=limit, per=per)
    except Exception as error:  # the cache server is away: fall back, never fail the request
        if time.monotonic() - _last_warning > 5:
            _last_warning = time.monotonic()
            logger.warning("Rate limits fall back to this process (the cache failed: %s)", error)
        return _hit(_local_counts, scope=scope, subject=subject, limit=limit, per=per)


def _hit(cache: Any, *, scope: str, subject: str, limit: int, per: float) -> RateLimit:
    now = time.time()
    window = int(now // per)
    elapsed = (now % per) / per
    current_key = f"ratelimit:{scope}:{subject}:{window}"
    previous_key = f"ratelimit:{scope}:{subject}:{window - 1}"
    timeout = math.ceil(per * 2) + 1
    cache.add(current_key, 0, timeout=timeout)
    try:
        current = cache.incr(current_key)
    except ValueError:  # evicted between add and incr
        cache.set(current_key, 1, timeout=timeout)
        current = 1
    previous = cache.get(previous_key) or 0
    estimate = previous * (1 - elapsed) + current
    if estimate <= limit:
        return RateLimit(True, limit, max(0, int(limit - estimate)), 0)
    # When will the weighted previous window have drained enough to let one more through?
    if current > limit or previous == 0:
        wait = (1 - elapsed) * per
    else:
        needed = 1 - (limit - current) / previous  # fraction of the window that must pass
        wait = max(0.0, (needed - elapsed) * per)
    return RateLimit(False, limit, 0, max(1, math.ceil(wait)))


async def arate_limit_hit(*, scope: str, subject: str, limit: int, per: float = 60.0) -> RateLimit:
    return await blocking_call(rate_limit_hit)(scope=scope, subject=subject, limit=limit, per=per)


class TokenBucket:
    """At most `burst` actions at once, refilled at `rate` a second: one client's own pace.

    In memory, for one long-lived connection (a websocket's frames and messages); limits that
    all processes share are `rate_limit_hit`'s.
    """

    clock = staticmethod(time.monotonic)  # a test stops it to count without racing the refill

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def client_ip(request: HttpRequest) -> str:
    """The caller's address, trusting X-Forwarded-For only as far as the configured proxies."""
    proxies = settings.SUPPORTBOT_TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or "unknown"


def rate_limited_response(result: RateLimit) -> JsonResponse:
    response = error_response(
        status=429,
        code="rate_limited",
        message=f"Too many requests; retry in {result.retry_after} s.",
    )
    response["Retry-After"] = str(result.retry_after)
    return response


def rate_limited(
    *,
    scope: str,
    limit: int | Callable[[], int] | None = None,
    per: float = 60.0,
    key: Callable[[HttpRequest], str] = client_ip,
) -> Callable:
    """Decorate a sync or async Django view: over the limit it answers 429 with Retry-After.

    `limit` defaults to SUPPORTBOT_RATE_PER_IP_PER_MINUTE (read per call, so tests can
    override it); `key` picks the subject, the client IP by default.
    """

    def current_limit() -> int:
        if limit is None:
            return settings.SUPPORTBOT_RATE_PER_IP_PER_MINUTE
        return limit() if callable(limit) else limit

    def decorate(view: Callable) -> Callable:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                result = await arate_limit_hit(
                    scope=scope, subject=key(request), limit=current_limit(), per=per
                )
                if not result.allowed:
                    return rate_limited_response(result)
                return await view(request, *args, **kwargs)

            return async_wrapper

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            result = rate_limit_hit(
                scope=scope, subject=key(request), limit=current_limit(), per=per
            )
            if not result.allowed:
                return rate_limited_response(result)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
