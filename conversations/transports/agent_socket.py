"""Websockets for agents (staff, by Django session): the live queue and a live conversation.

/ws/agent/queue/                  -> {"type": "agent.queue", "conversations": [...]} on change
/ws/agent/conversations/<id>/     -> the conversation's events as the customer's sockets get
                                     them; send {"type": "claim" | "release" | "close"} or
                                     {"type": "reply", "text": ..., "client_id": ...}
"""

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from conversations.agents.access import agent_may_reply, agent_may_review, agent_name
from conversations.agents.messaging import agent_reply
from conversations.agents.queue import agent_queue
from conversations.database import database_call
from conversations.domain.errors import DomainError
from conversations.domain.events import AgentQueue, Error, MessageCreated, StatusChanged
from conversations.domain.messages import message_serialize, messages_after
from conversations.domain.realtime import AGENT_QUEUE_GROUP, conversation_group
from conversations.domain.status import (
    conversation_claim,
    conversation_close,
    conversation_release,
)
from conversations.models import Conversation

FORBIDDEN = 4403
NOT_FOUND = 4404


@database_call
def _queue_snapshot() -> dict[str, Any]:
    return AgentQueue(conversations=agent_queue()).to_dict()


class AgentQueueConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        if not await database_call(agent_may_review)(self.scope.get("user")):
            await self.close(code=FORBIDDEN)
            return
        await self.channel_layer.group_add(AGENT_QUEUE_GROUP, self.channel_name)
        await self.accept()
        await self.send_json(await _queue_snapshot())

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(AGENT_QUEUE_GROUP, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "refresh":
            await self.send_json(await _queue_snapshot())

    async def queue_changed(self, message: dict[str, Any]) -> None:
        await self.send_json(await _queue_snapshot())


@database_call
def _history(conversation_id: Any, after_seq: int) -> list[dict[str, Any]]:
    return [
        MessageCreated(message=message_serialize(m)).to_dict()
        for m in messages_after(conversation_id=conversation_id, after_seq=after_seq)
    ]


@database_call
def _status(conversation_id: Any) -> dict[str, Any] | None:
    conversation = (
        Conversation.objects.select_related("assigned_agent").filter(pk=conversation_id).first()
    )
    if conversation is None:
        return None
    return StatusChanged(
        status=conversation.status, agent_name=agent_name(conversation.assigned_agent)
    ).to_dict()


class AgentConversationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.conversation_id = str(self.scope["url_route"]["kwargs"]["conversation_id"])
        self.user = self.scope.get("user")
        if not await database_call(agent_may_review)(self.user):
            await self.close(code=FORBIDDEN)
            return
        status = await _status(self.conversation_id)
        if status is None:
            await self.close(code=NOT_FOUND)
            return
        self.group = conversation_group(self.conversation_id)
        # Join before reading history: an event that lands in between is seen twice at worst,
        # and clients drop repeats by sequence number.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        for frame in await _history(self.conversation_id, 0):
            await self.send_json(frame)
        await self.send_json(status)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def chat_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "resume":
            after = content.get("after_seq")
            after = after if isinstance(after, int) else 0
            for frame in await _history(self.conversation_id, after):
                await self.send_json(frame)
            return
        if kind not in {"claim", "release", "close", "reply"}:
            await self._error("bad_frame", "Unknown frame type.")
            return
        if not await database_call(agent_may_reply)(self.user):
            await self._error("forbidden", "You may read this conversation but not answer it.")
            return
        try:
            await database_call(self._act)(kind, content)
        except DomainError as error:
            await self._error(error.code, error.message)
        except Conversation.DoesNotExist:
            await self._error("not_found", "This conversation no longer exists.")

    def _act(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "claim":
            conversation_claim(conversation_id=self.conversation_id, agent=self.user)
        elif kind == "release":
            conversation_release(conversation_id=self.conversation_id, agent=self.user)
        elif kind == "close":
            conversation_close(
                conversation_id=self.conversation_id, closed_by="agent", agent=self.user
            )
        else:
            text = content.get("text")
            client_id = content.get("client_id")
            agent_reply(
                conversation_id=self.conversation_id,
                agent=self.user,
                text=text if isinstance(text, str) else "",
                client_id=client_id[:64] if isinstance(client_id, str) and client_id else None,
            )

    async def _error(self, code: str, message: str) -> None:
        await self.send_json(Error(code=code, message=message).to_dict())
