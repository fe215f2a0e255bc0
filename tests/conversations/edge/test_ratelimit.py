"""The sliding-window limiter, on whatever cache is configured (Redis in CI)."""

import time

import pytest
from django.core.cache import cache
from django.http import HttpResponse
from django.test import RequestFactory

from conversations.edge import ratelimit
from conversations.edge.ratelimit import client_ip, rate_limit_hit, rate_limited


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield


def test_allows_up_to_the_limit_then_refuses_with_a_retry_after():
    results = [rate_limit_hit(scope="t", subject="a", limit=3, per=60) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert [r.remaining for r in results[:3]] == [2, 1, 0]
    assert 1 <= results[-1].retry_after <= 60
    assert rate_limit_hit(scope="t", subject="b", limit=3, per=60).allowed  # other subject


def test_the_previous_window_still_counts_while_it_overlaps(monkeypatch):
    now = [1_000_000 * 60.0]  # the start of a window
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    for _ in range(10):
        assert rate_limit_hit(scope="w", subject="s", limit=10, per=60).allowed
    now[0] += 60 + 15  # a quarter into the next window: 75% of the last 10 still count
    allowed = [rate_limit_hit(scope="w", subject="s", limit=10, per=60).allowed for _ in range(4)]
    assert allowed == [True, True, False, False]  # 7.5 + 2 fits, 7.5 + 3 does not
    refused = rate_limit_hit(scope="w", subject="s", limit=10, per=60)
    assert not refused.allowed and 1 <= refused.retry_after <= 45
    now[0] += 60  # two windows on, the old hits are gone
    assert rate_limit_hit(scope="w", subject="s", limit=10, per=60).allowed


def test_short_windows_expire():
    assert rate_limit_hit(scope="x", subject="s", limit=1, per=1).allowed
    assert not rate_limit_hit(scope="x", subject="s", limit=1, per=1).allowed
    time.sleep(2.05)
    assert rate_limit_hit(scope="x", subject="s", limit=1, per=1).allowed


def test_the_decorator_answers_429_for_sync_and_async_views(settings):
    factory = RequestFactory()

    @rate_limited(scope="widget-sync", limit=1)
    def view(request):
        return HttpResponse("ok")

    assert view(factory.get("/")).status_code == 200
    refused = view(factory.get("/"))
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert view(factory.get("/", REMOTE_ADDR="10.1.1.1")).status_code == 200


async def test_the_decorator_wraps_async_views():
    factory = RequestFactory()

    @rate_limited(scope="widget-async", limit=1)
    async def view(request):
        return HttpResponse("ok")

    assert (await view(factory.get("/"))).status_code == 200
    assert (await view(factory.get("/"))).status_code == 429


def test_client_ip_trusts_only_the_configured_proxies(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    settings.SUPPORTBOT_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.1"
    settings.SUPPORTBOT_TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.7"


class CacheAway:
    """A cache whose server is unreachable, as django-redis's is when Redis is down."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            from redis.exceptions import ConnectionError

            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        return fail


def test_without_the_cache_the_limit_falls_back_to_this_process(monkeypatch):
    monkeypatch.setattr(ratelimit, "cache", CacheAway())
    results = [rate_limit_hit(scope="away", subject="a", limit=3, per=60) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
