"""Websockets for agents (staff, by Django session): the live queue and a live conversation.

/ws/agent/queue/                  -> {"type": "agent.queue", "conversations": [...]} on change
/ws/agent/conversations/<id>/     -> the conversation's events as the customer's sockets get
                                     them; send {"type": "claim" | "release" | "close"},
                                     {"type": "reply", "text": ..., "client_id": ...},
                                     {"type": "typing", "active": ...} or {"type": "draft"}
"""

import asyncio
import logging
import time
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from conversations.agents.access import (
    agent_conversations,
    agent_may_reply,
    agent_may_review,
    agent_may_see,
    agent_name,
)
from conversations.agents.copilot import draft_stream, drafts_abandon
from conversations.agents.messaging import agent_owns, agent_reply
from conversations.agents.queue import agent_queue
from conversations.database import database_call
from conversations.domain.errors import DomainError
from conversations.domain.events import (
    AgentQueue,
    Error,
    MessageCreated,
    StatusChanged,
    TakeoverSummary,
    Typing,
)
from conversations.domain.insights import insights_so_far
from conversations.domain.messages import message_serialize, messages_after
from conversations.domain.realtime import (
    AGENT_QUEUE_GROUP,
    CLOSE_LAYER_LOST,
    conversation_group,
    event_publish,
    layer_listener_add,
    layer_listener_remove,
)
from conversations.domain.status import (
    conversation_claim,
    conversation_close,
    conversation_release,
)
from conversations.models import Conversation

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
NOT_FOUND = 4404
# The customer's widget hides "<agent> is typing" after 6 s without news: refresh it sooner.
TYPING_EVERY_SECONDS = 2.0
HISTORY_PAGE = 500


@database_call
def _queue_snapshot(user: Any) -> dict[str, Any]:
    return AgentQueue(conversations=agent_queue(user=user)).to_dict()


class AgentQueueConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        if not await database_call(agent_may_review)(self.scope.get("user")):
            await self.close(code=FORBIDDEN)
            return
        await self.channel_layer.group_add(AGENT_QUEUE_GROUP, self.channel_name)
        await self.accept()
        await self.send_json(await _queue_snapshot(self.scope.get("user")))

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(AGENT_QUEUE_GROUP, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "refresh":
            await self.send_json(await _queue_snapshot(self.scope.get("user")))

    async def queue_changed(self, message: dict[str, Any]) -> None:
        await self.send_json(await _queue_snapshot(self.scope.get("user")))


@database_call
def _history_page(conversation_id: Any, after_seq: int) -> list[dict[str, Any]]:
    return [
        MessageCreated(message=message_serialize(m)).to_dict()
        for m in messages_after(
            conversation_id=conversation_id, after_seq=after_seq, limit=HISTORY_PAGE
        )
    ]


@database_call
def _takeover_summary(conversation_id: Any) -> dict[str, Any]:
    found = insights_so_far(conversation_id=conversation_id)
    return TakeoverSummary(summary=found.summary, topic=found.topic).to_dict()


@database_call
def _status(conversation_id: Any, user: Any) -> dict[str, Any] | None:
    """The conversation's status, or None if it is missing or of a bot this agent does not see."""
    conversation = (
        agent_conversations(user)
        .select_related("assigned_agent")
        .filter(pk=conversation_id)
        .first()
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
        status = await _status(self.conversation_id, self.user)
        if status is None:
            await self.close(code=NOT_FOUND)
            return
        self.group = conversation_group(self.conversation_id)
        # Join before reading history: an event that lands in between is seen twice at worst,
        # and clients drop repeats by sequence number.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.last_typing = 0.0
        self.draft: asyncio.Task | None = None
        layer_listener_add(self)
        await self._history(0)
        await self.send_json(status)

    async def _history(self, after_seq: int) -> None:
        """Every stored message after `after_seq`, a page at a time however long it is."""
        while True:
            page = await _history_page(self.conversation_id, after_seq)
            for frame in page:
                await self.send_json(frame)
            if len(page) < HISTORY_PAGE:
                return
            after_seq = page[-1]["message"]["seq"]

    async def disconnect(self, code: int) -> None:
        layer_listener_remove(self)
        draft = getattr(self, "draft", None)
        if draft is not None:
            draft.cancel()
        if hasattr(self, "group"):
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:
                logger.debug("Leaving the group failed (the layer is away)", exc_info=True)

    async def layer_lost(self) -> None:
        """The channel layer failed: nothing more arrives here; the console must reconnect."""
        layer_listener_remove(self)
        await self._error("unavailable", "Connection trouble; reconnecting.")
        await self.close(code=CLOSE_LAYER_LOST)

    async def chat_event(self, message: dict[str, Any]) -> None:
        frame = message.get("frame")  # serialized once by the publisher (domain.realtime)
        if frame is not None:
            await self.send(text_data=frame)
        else:
            await self.send_json(message["event"])

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "resume":
            after = content.get("after_seq")
            await self._history(after if isinstance(after, int) and after >= 0 else 0)
            return
        if kind not in {"claim", "release", "close", "reply", "typing", "draft"}:
            await self._error("bad_frame", "Unknown frame type.")
            return
        if not await database_call(agent_may_reply)(self.user):
            await self._error("forbidden", "You may read this conversation but not answer it.")
            return
        if not await database_call(agent_may_see)(self.user, self.conversation_id):
            # Deleted, or the agent left the bot's team since connecting.
            await self._error("not_found", "This conversation no longer exists.")
            return
        if kind == "typing":
            await self._typing(content.get("active", True) is not False)
            return
        if kind == "draft":
            await self._draft()
            return
        try:
            await database_call(self._act)(kind, content)
        except DomainError as error:
            await self._error(error.code, error.message)
            return
        except Conversation.DoesNotExist:
            await self._error("not_found", "This conversation no longer exists.")
            return
        if kind == "claim":
            await self.send_json(await _takeover_summary(self.conversation_id))

    async def _typing(self, active: bool) -> None:
        """Tell the customer this agent is typing: throttled, and only from the owner."""
        now = time.monotonic()
        if active and now - self.last_typing < TYPING_EVERY_SECONDS:
            return
        owns = await database_call(agent_owns)(
            conversation_id=self.conversation_id, agent=self.user
        )
        if not owns:
            return
        self.last_typing = now if active else 0.0
        name = await database_call(agent_name)(self.user)
        await event_publish(
            conversation_id=self.conversation_id,
            event=Typing(role="agent", active=active, agent_name=name),
        )

    async def _draft(self) -> None:
        """Stream a copilot draft to this socket only; one at a time."""
        if self.draft is not None and not self.draft.done():
            await self._error("draft_running", "A draft is already being written.")
            return
        name = await database_call(agent_name)(self.user)

        async def run() -> None:
            try:
                async for event in draft_stream(
                    conversation_id=self.conversation_id, agent_name=name, agent_id=self.user.pk
                ):
                    await self.send_json(event.to_dict())
            except asyncio.CancelledError:
                # The console went (disconnect): the row would stay "streaming" forever.
                await database_call(drafts_abandon)(
                    conversation_id=self.conversation_id, agent_id=self.user.pk
                )
                raise
            except Conversation.DoesNotExist:
                await self._error("not_found", "This conversation no longer exists.")
            except Exception:
                logger.exception("The draft for %s failed", self.conversation_id)
                await self._error("draft_failed", "The draft could not be written; try again.")

        self.draft = asyncio.ensure_future(run())

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
