"""Probes for /healthz: the database, the channel layer and the Celery broker."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from conversations.database import database_call

PROBE_TIMEOUT = 3.0


def database_probe() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


async def channel_layer_probe() -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    await layer.receive(channel)
    return type(layer).__name__


def broker_probe() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    from supportbot.celery import app

    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT)
        return conn.transport.driver_name


async def _check(name: str, probe: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        awaitable = (
            probe() if asyncio.iscoroutinefunction(probe) else database_call(probe, may_hang=True)()
        )
        detail = await asyncio.wait_for(awaitable, PROBE_TIMEOUT)
        result: dict[str, Any] = {"ok": True, "backend": detail}
    except Exception as exc:  # a health check reports every failure instead of raising it
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return name, result


async def health_report() -> dict[str, Any]:
    checks = await asyncio.gather(
        _check("database", database_probe),
        _check("channel_layer", channel_layer_probe),
        _check("broker", broker_probe),
    )
    report = dict(checks)
    return {"ok": all(c["ok"] for c in report.values()), "checks": report}
