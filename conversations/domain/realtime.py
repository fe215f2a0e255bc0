"""The one way events reach sockets: the conversation's channel-layer group, after commit."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from conversations.domain.events import Event


def conversation_group(conversation_id: Any) -> str:
    return f"conversation.{conversation_id}"


async def event_publish(*, conversation_id: Any, event: Event) -> None:
    """Send an event to every socket watching the conversation (the caller has committed)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            conversation_group(conversation_id), {"type": "chat.event", "event": event.to_dict()}
        )


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
        await layer.group_send(AGENT_QUEUE_GROUP, {"type": "queue.changed"})


def agent_queue_changed_on_commit() -> None:
    """From sync code: nudge the agents' queue views once the transaction has committed."""
    transaction.on_commit(lambda: async_to_sync(agent_queue_changed)())
