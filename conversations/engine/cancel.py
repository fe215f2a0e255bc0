"""Stopping a reply: the customer pressed stop, or someone else took the conversation."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any


class Stop(Exception):
    """Generation ends early: `reason` is the finish_reason ("stopped", "superseded")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def until_cancelled(source: AsyncIterator[Any], cancel: asyncio.Event | None):
    """Items of `source`, ending with Stop("stopped") as soon as `cancel` is set."""
    if cancel is None:
        async for item in source:
            yield item
        return
    if cancel.is_set():
        raise Stop("stopped")
    queue: asyncio.Queue = asyncio.Queue()
    end, stopped = object(), object()

    async def pump() -> None:
        try:
            async for item in source:
                queue.put_nowait((item, None))
        except Exception as exc:
            queue.put_nowait((end, exc))
        else:
            queue.put_nowait((end, None))

    async def watch() -> None:
        await cancel.wait()
        queue.put_nowait((stopped, None))

    pump_task = asyncio.create_task(pump())
    watch_task = asyncio.create_task(watch())
    try:
        while True:
            item, exc = await queue.get()
            if item is stopped:
                raise Stop("stopped")
            if item is end:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        for task in (pump_task, watch_task):
            task.cancel()
        await asyncio.gather(pump_task, watch_task, return_exceptions=True)
