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
    """Items of `source`, ending with Stop("stopped") as soon as `cancel` is set.

    The source is read in the caller's own task, not through a queue and a task of its own
    (a task switch per streamed token). While the caller waits on the source, setting
    `cancel` cancels that wait: the CancelledError goes through the source (which closes its
    connection) and comes out here as Stop. While the caller is busy with an item it is not
    interrupted; cancel is checked before the next read.
    """
    if cancel is None:
        async for item in source:
            yield item
        return
    if cancel.is_set():
        raise Stop("stopped")
    task = asyncio.current_task()
    iterator = aiter(source)
    reading = False
    interrupted = False

    async def watch() -> None:
        nonlocal interrupted
        await cancel.wait()
        if reading:  # only a wait on the source is cancelled, never the caller's own work
            interrupted = True
            task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        while True:
            if cancel.is_set():
                raise Stop("stopped")
            reading = True
            try:
                item = await anext(iterator)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if not interrupted or task.uncancel() > 0:
                    raise  # cancelled from outside as well: that one wins
                raise Stop("stopped") from None
            finally:
                reading = False
            if interrupted:  # the source swallowed the cancellation and went on
                task.uncancel()
                raise Stop("stopped")
            yield item
    finally:
        watcher.cancel()
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
