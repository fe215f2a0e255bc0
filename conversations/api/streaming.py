"""Running a bot reply for an API request: as a task that outlives the request, relayed as SSE.

The reply runs as an asyncio task in this process, so a client that disconnects mid-stream
does not stop it: the message still completes and is stored. Its events also go to the
conversation's group, so a widget or an agent watching the conversation sees them live.
"""

import asyncio
import contextvars
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connections

from conversations import engine
from conversations.events import Error, Event
from conversations.realtime import event_publish

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
_END = object()
# Tasks are referenced here until they finish: the event loop only keeps weak references.
_running: set[asyncio.Task] = set()


async def _run(conversation_id: Any, queue: asyncio.Queue) -> None:
    # Its own thread for the sync ORM calls: nothing tied to the request that started it.
    async with ThreadSensitiveContext():
        try:
            async for event in engine.reply_stream(conversation_id=conversation_id):
                await queue.put(event)
                try:
                    await event_publish(conversation_id=conversation_id, event=event)
                except Exception:  # watchers are a courtesy; the API client still gets it
                    logger.warning("Could not relay %s to the conversation's group", event.type)
        except Exception:
            logger.exception("Reply failed for conversation %s", conversation_id)
            await queue.put(Error(code="reply_failed", message="The reply could not be completed."))
        finally:
            await queue.put(_END)
            await sync_to_async(connections.close_all)()


def reply_start(*, conversation_id: Any) -> asyncio.Queue:
    """Start the bot's reply as a task; its events arrive on the returned queue, then the end."""
    queue: asyncio.Queue = asyncio.Queue()
    # A fresh context: the request's would tie the task's sync_to_async calls to the
    # request's executor, which Django shuts down when the response is done.
    task = asyncio.get_running_loop().create_task(
        _run(conversation_id, queue), context=contextvars.Context()
    )
    _running.add(task)
    task.add_done_callback(_running.discard)
    return queue


async def reply_events(
    queue: asyncio.Queue, *, keepalive: float | None = None
) -> AsyncIterator[Event | None]:
    """The reply's events in order; None marks a quiet stretch (time for a keep-alive)."""
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), timeout=keepalive)
        except TimeoutError:
            yield None
            continue
        if item is _END:
            return
        yield item


def sse_format(event: Event) -> str:
    return f"event: {event.type}\ndata: {json.dumps(event.to_dict(), default=str)}\n\n"


async def sse_stream(
    *, first: list[Event], queue: asyncio.Queue | None, keepalive: float = KEEPALIVE_SECONDS
) -> AsyncIterator[str]:
    """Server-Sent Events: the given events, then the reply's, with keep-alive comments."""
    yield ": supportbot\n\n"
    for event in first:
        yield sse_format(event)
    if queue is None:
        return
    async for event in reply_events(queue, keepalive=keepalive):
        yield ": keep-alive\n\n" if event is None else sse_format(event)
