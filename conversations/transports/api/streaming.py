"""A reply's events as Server-Sent Events, with keep-alive comments through quiet stretches.

The reply itself runs in conversations.domain.intake, as every transport's does: it outlives the
request, so a client that disconnects mid-stream only stops listening.
"""

import asyncio
import json
from collections.abc import AsyncIterator

from conversations.domain.events import Event

KEEPALIVE_SECONDS = 15.0


def sse_format(event: Event) -> str:
    return f"event: {event.type}\ndata: {json.dumps(event.to_dict(), default=str)}\n\n"


async def sse_stream(
    *,
    first: list[Event],
    events: AsyncIterator[Event] | None,
    keepalive: float = KEEPALIVE_SECONDS,
) -> AsyncIterator[str]:
    """Server-Sent Events: the given events, then the reply's, with keep-alive comments."""
    yield ": supportbot\n\n"
    for event in first:
        yield sse_format(event)
    if events is None:
        return
    # The next event is awaited in a task, so that a keep-alive can go out while it waits
    # without cancelling (and so ending) the subscription.
    following: asyncio.Future | None = None
    try:
        while True:
            if following is None:
                following = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({following}, timeout=keepalive)
            if not done:
                yield ": keep-alive\n\n"
                continue
            try:
                event = following.result()
            except StopAsyncIteration:
                following = None
                return
            following = None
            yield sse_format(event)
    finally:
        # The client left (or the reply ended): stop listening; the reply itself goes on.
        if following is not None:
            following.cancel()
        elif hasattr(events, "aclose"):
            await events.aclose()
