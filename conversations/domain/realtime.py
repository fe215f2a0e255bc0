"""The one way events reach sockets: the conversation's channel-layer group, after commit.

The channel layer (Redis) may be away. Publishing then fails quietly for the caller, whose
work (a stored message, a reply being written) goes on: the database holds everything. The
sockets of this process cannot hear their groups any more, so they are told and closed with
CLOSE_LAYER_LOST; the client reconnects and replays what it missed from the database.

An event is serialized once, here: the message carries its JSON frame beside the event, and
the sockets send that text as it is (supportbot.layers hands it to this process's sockets
directly; other processes get it through Redis).
"""

import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from conversations.domain.events import AssistantDelta, Event
from supportbot.layers import REMOTE_IF_WATCHED

logger = logging.getLogger(__name__)

# A close code that tells the client: reconnect (with backoff) and replay from your last seq.
CLOSE_LAYER_LOST = 4503
HEALTH_GROUP = "supportbot.health"

# This process's sockets that listen on the layer: each is told when the layer fails.
_listeners: "weakref.WeakSet[Any]" = weakref.WeakSet()
_last_warning = 0.0


def conversation_group(conversation_id: Any) -> str:
    return f"conversation.{conversation_id}"


# Made once: json.dumps with any argument of its own builds a new encoder at every call.
_FRAME_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def event_frame(payload: dict[str, Any]) -> str:
    """An event's websocket frame: compact JSON (the one encoding every socket sends)."""
    return _FRAME_ENCODER.encode(payload)


def event_message(event: Event) -> dict[str, Any]:
    """The channel-layer message for an event: the event and its frame, serialized once.

    A reply's deltas go to other processes only while one of them watches the conversation
    (supportbot.layers.REMOTE_IF_WATCHED): the done frame carries the whole text.
    """
    payload = event.to_dict()
    message = {"type": "chat.event", "event": payload, "frame": event_frame(payload)}
    if payload["type"] == AssistantDelta.type:
        message[REMOTE_IF_WATCHED] = True
    return message


def layer_listener_add(listener: Any) -> None:
    """Register a socket (with an async `layer_lost()`) to be told when the layer fails."""
    _listeners.add(listener)


def layer_listener_remove(listener: Any) -> None:
    _listeners.discard(listener)


async def layer_failed(error: BaseException) -> None:
    """The layer failed: every socket of this process listening on it is told and closed."""
    global _last_warning
    if time.monotonic() - _last_warning > 5:
        _last_warning = time.monotonic()
        logger.warning("The channel layer failed (%s); closing this process's sockets", error)
    for listener in list(_listeners):
        try:
            await listener.layer_lost()
        except Exception:
            logger.debug("Closing a socket after a layer failure failed", exc_info=True)


async def _layer_call(send: Callable[[], Awaitable[None]]) -> bool:
    try:
        await send()
    except Exception as error:  # redis-py, OSError, timeouts: the layer is away
        await layer_failed(error)
        return False
    return True


async def event_publish(*, conversation_id: Any, event: Event) -> bool:
    """Send an event to every socket watching the conversation (the caller has committed).

    False when the layer failed: the event is stored already, the sockets replay it later.
    """
    layer = get_channel_layer()
    if layer is None:
        return True
    return await _layer_call(
        lambda: layer.group_send(conversation_group(conversation_id), event_message(event))
    )


async def layer_check() -> bool:
    """Whether the channel layer takes a message now; sockets are closed when it does not."""
    layer = get_channel_layer()
    if layer is None:
        return True
    return await _layer_call(lambda: layer.group_send(HEALTH_GROUP, {"type": "health.check"}))


def event_publish_on_commit(*, conversation_id: Any, event: Event) -> None:
    """From sync code: publish once the surrounding transaction has committed."""

    def send() -> None:
        async_to_sync(event_publish)(conversation_id=conversation_id, event=event)

    transaction.on_commit(send)


AGENT_QUEUE_GROUP = "agents.queue"


async def agent_queue_changed() -> None:
    """Tell every agent's queue view to refresh (it re-reads the queue from the database)."""
    layer = get_channel_layer()
    if layer is not None:
        await _layer_call(lambda: layer.group_send(AGENT_QUEUE_GROUP, {"type": "queue.changed"}))


def agent_queue_changed_on_commit() -> None:
    """From sync code: nudge the agents' queue views once the transaction has committed."""
    transaction.on_commit(lambda: async_to_sync(agent_queue_changed)())
