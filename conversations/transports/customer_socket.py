"""The customer's websocket: /ws/chat/<conversation id>/ (protocol in docs/protocol.md).

Thin: it checks the origin, the resume token and each frame, calls the domain code
(conversations.domain.intake, conversations.domain.status) and sends the
conversation's events as JSON frames.
"""

import asyncio
import collections
import json
import logging
import re
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from conversations.database import database_call
from conversations.domain import intake
from conversations.domain.conversation import conversation_for_token
from conversations.domain.errors import DomainError
from conversations.domain.events import (
    Error,
    Event,
    MessageCreated,
    SessionReady,
    StatusChanged,
    Typing,
)
from conversations.domain.messages import message_serialize, messages_after
from conversations.domain.realtime import (
    CLOSE_LAYER_LOST,
    conversation_group,
    event_frame,
    event_message,
    layer_failed,
    layer_listener_add,
    layer_listener_remove,
)
from conversations.domain.status import bot_may_write, conversation_rate, handoff_request
from conversations.domain.text import text_problem
from conversations.edge.origins import bot_origin_allowed
from conversations.edge.ratelimit import TokenBucket
from conversations.models import Bot, Conversation
from conversations.tools.actions import order_action_decide, order_proposals_waiting
from supportbot.layers import direct_receiver_add, direct_receiver_remove

logger = logging.getLogger(__name__)

MAX_CLIENT_ID_CHARS = 64
# Room for a frame's other fields (client id, attachment ids, type) however they are escaped.
FRAME_OVERHEAD_CHARS = 16 * 1024
# A client id found in a frame too large (or too frequent) to be read whole.
CLIENT_ID_IN_FRAME = re.compile(r'"client_id"\s*:\s*"([A-Za-z0-9._:@-]{1,64})"')
AUTH_TIMEOUT_SECONDS = 10.0
REPLAY_BATCH = 500
# A socket with this many frames waiting (its client reads slower than the chat writes) is
# closed with CLOSE_LAYER_LOST: the client reconnects and replays from the database, and the
# process does not hold an unbounded backlog for it.
SLOW_CLIENT_FRAMES = 2000

# Close codes (4000-4999 are the application's own).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_NOT_FOUND = 4404


def max_frame_chars() -> int:
    """The longest frame taken: the longest message fits however its JSON is escaped.

    json.dumps' defaults escape every non-ASCII character: 6 characters for "Я", 12 for an
    emoji (a surrogate pair), so a message of N characters may need 12 N in the frame.
    """
    return 12 * settings.SUPPORTBOT_MAX_MESSAGE_CHARS + FRAME_OVERHEAD_CHARS


def _client_id_of(text_data: str) -> str | None:
    """The client id of a frame not parsed (too large, over the limit), when it shows one."""
    found = CLIENT_ID_IN_FRAME.search(text_data)
    return found.group(1) if found else None


def _bot_for_conversation(conversation_id: str) -> Bot | None:
    conversation = (
        Conversation.objects.select_related("bot")
        .only("id", "bot__allowed_origins", "bot__is_active")
        .filter(pk=conversation_id)
        .first()
    )
    return conversation.bot if conversation is not None else None


def _replay(conversation_id: Any, after_seq: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while True:
        batch = messages_after(
            conversation_id=conversation_id, after_seq=after_seq, limit=REPLAY_BATCH
        )
        frames.extend(message_serialize(m) for m in batch)
        if len(batch) < REPLAY_BATCH:
            return frames
        after_seq = batch[-1].seq


class ChatConsumer(AsyncWebsocketConsumer):
    """One customer tab's socket on one conversation."""

    conversation: Conversation | None = None
    group: str = ""
    busy = False
    layer_gone = False
    # The conversation's frames waiting to go out, in order (made at the first one), and the
    # task sending them.
    outbox: collections.deque | None = None
    writer: asyncio.Task | None = None
    closing: asyncio.Task | None = None

    @property
    def control_group(self) -> str:
        return f"{self.group}.replies"

    auth_timer: asyncio.TimerHandle | None = None

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.conversation_id = str(self.scope["url_route"]["kwargs"]["conversation_id"])
        self.frames = TokenBucket(rate=10, burst=30)
        self.messages = TokenBucket(rate=1, burst=10)
        self.last_typing = 0.0
        self.auth_timer: asyncio.TimerHandle | None = None
        self.rejected = False
        await self.accept()
        headers = dict(self.scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        bot = await database_call(_bot_for_conversation)(self.conversation_id)
        if bot is not None and not bot_origin_allowed(bot=bot, origin=origin, host=host):
            await self.send_event(
                Error(code="origin_not_allowed", message="This site may not open this chat.")
            )
            self.rejected = True
            await self.close(code=CLOSE_FORBIDDEN_ORIGIN)
            return
        self.auth_timer = asyncio.get_running_loop().call_later(
            AUTH_TIMEOUT_SECONDS, lambda: asyncio.ensure_future(self._auth_expired())
        )

    async def disconnect(self, code: int) -> None:
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        direct_receiver_remove(self.channel_name)
        self.rejected = True
        if self.outbox:
            self.outbox.clear()
        layer_listener_remove(self)
        if self.group:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
                await self.channel_layer.group_discard(self.control_group, self.channel_name)
            except Exception:
                logger.debug("Leaving the groups failed (the layer is away)", exc_info=True)

    async def layer_lost(self) -> None:
        """The channel layer failed: this socket hears nothing more; the client must reconnect.

        A frame being handled (a message stored during the outage) is answered first, then
        the socket closes.
        """
        layer_listener_remove(self)
        self.layer_gone = True
        if not self.busy:
            await self._close_for_layer()

    async def _close_for_layer(self) -> None:
        if self.rejected:
            return
        self.rejected = True
        await self.send_error("unavailable", "Connection trouble; reconnecting.")
        await self.close(code=CLOSE_LAYER_LOST)

    async def _group_send(self, group: str, message: dict[str, Any]) -> None:
        try:
            await self.channel_layer.group_send(group, message)
        except Exception as error:
            await layer_failed(error)

    async def _auth_expired(self) -> None:
        if self.conversation is None:
            await self.send_error("auth_timeout", "No authentication frame arrived in time.")
            await self.close(code=CLOSE_AUTH_TIMEOUT)

    # --- Frames from the client.

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.rejected:
            return None
        self.busy = True
        try:
            await self._receive(text_data, bytes_data)
        finally:
            self.busy = False
            if self.layer_gone:
                await self._close_for_layer()
            elif self.outbox:
                self._writer_start()

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if text_data is None:
            return await self.send_error("unsupported", "Frames must be JSON text.")
        if len(text_data) > max_frame_chars():
            return await self.send_error(
                "frame_too_large", "That frame is too large.", client_id=_client_id_of(text_data)
            )
        if not self.frames.take():
            # Named, so that the client knows which message to send again later.
            return await self.send_error(
                "rate_limited", "Too many frames; slow down.", client_id=_client_id_of(text_data)
            )
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):
            return await self.send_error("malformed", "Frames must be JSON objects.")
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return await self.send_error("malformed", 'Frames are JSON objects with a "type".')
        if problem := text_problem(frame):
            # PostgreSQL would refuse it mid-write; say so while the socket stays usable.
            return await self.send_error(
                "malformed",
                f"{problem[:1].upper()}{problem[1:]}.",
                client_id=frame.get("client_id"),
            )
        kind = frame["type"]
        if kind == "ping":
            return await self.send_json({"type": "pong"})
        if self.conversation is None:
            if kind != "auth":
                return await self.send_error("not_authenticated", "Send an auth frame first.")
            return await self.receive_auth(frame)
        handler = self.handlers.get(kind)
        if handler is None:
            return await self.send_error("unknown_type", f"Unknown frame type {kind[:40]!r}.")
        try:
            await handler(self, frame)
        except DomainError as error:  # the websocket's envelope for every domain refusal
            await self.send_error(error.code, error.message, client_id=frame.get("client_id"))

    async def receive_auth(self, frame: dict[str, Any]) -> None:
        token, last_seq = frame.get("token"), frame.get("last_seq", 0)
        if not isinstance(token, str) or not isinstance(last_seq, int) or last_seq < 0:
            return await self.send_error("malformed", "auth needs a token and a last_seq >= 0.")
        conversation = await database_call(conversation_for_token)(
            conversation_id=self.conversation_id, token=token[:200]
        )
        if conversation is None:
            await self.send_error("unauthorized", "This conversation cannot be opened.")
            return await self.close(code=CLOSE_UNAUTHORIZED)
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        self.conversation = conversation
        self.group = conversation_group(conversation.pk)
        # Join before reading the history: nothing published meanwhile is missed, and the
        # client drops what it already has by sequence number (and deltas by offset).
        direct_receiver_add(self.channel_name, self._layer_message_take)
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.channel_layer.group_add(self.control_group, self.channel_name)
        except Exception as error:
            logger.warning("Joining the conversation's group failed: %s", error)
            return await self.layer_lost()
        layer_listener_add(self)
        # A reply whose process died ends now, not at the next sweep: no Stop button for it.
        await intake.lost_replies_recover(conversation_id=conversation.pk)
        messages = await database_call(_replay)(conversation.pk, last_seq)
        await self.send_event(
            SessionReady(
                conversation_id=str(conversation.pk),
                status=conversation.status,
                last_seq=conversation.last_seq,
                bot_name=conversation.bot.name,
                greeting=conversation.bot.greeting,
                csat_rating=conversation.csat_rating,
            )
        )
        running = intake.reply_running(conversation_id=conversation.pk)
        for message in messages:
            if running is not None and message["seq"] == running.seq:
                # The database holds the last checkpoint; this process knows what was sent.
                message = {**message, "text": running.text, "state": "streaming"}
            await self.send_event(MessageCreated(message=message))
        # After a reload the page has no card for a proposal still waiting: show it again.
        for card in await database_call(order_proposals_waiting)(conversation_id=conversation.pk):
            await self.send_event(card)

    async def receive_message(self, frame: dict[str, Any]) -> None:
        text, client_id = frame.get("text", ""), frame.get("client_id")
        attachments = frame.get("attachments", [])
        if (
            not isinstance(text, str)
            or not isinstance(client_id, str)
            or not 0 < len(client_id) <= MAX_CLIENT_ID_CHARS
            or not isinstance(attachments, list)
            or not all(isinstance(a, str) for a in attachments)
        ):
            return await self.send_error(
                "malformed", "message needs a text, a client_id and a list of attachment ids."
            )
        if not self.messages.take():
            return await self.send_error(
                "rate_limited", "You are sending messages too fast.", client_id=client_id
            )
        posted = await intake.customer_message_post(
            conversation_id=self.conversation.pk,
            text=text,
            client_id=client_id,
            attachment_ids=attachments,
        )
        await self.send_json(
            {
                "type": "message.accepted",
                "seq": posted.message.seq,
                "message_id": posted.message.pk,
                "client_id": client_id,
                "duplicate": not posted.created,
            }
        )

    async def receive_action_decide(self, frame: dict[str, Any]) -> None:
        """The customer's click on a confirm card: the only way an order action is carried out."""
        action_id, decision = frame.get("action_id"), frame.get("decision")
        if not isinstance(action_id, str) or not isinstance(decision, str):
            return await self.send_error(
                "malformed", 'action.decide needs an action_id and a decision ("confirm").'
            )
        await database_call(order_action_decide)(
            conversation_id=self.conversation.pk, action_id=action_id, decision=decision
        )
        # The bot answers the decision (the engine re-checks that it still owns the chat).
        intake.reply_start(conversation_id=self.conversation.pk)

    async def receive_stop(self, frame: dict[str, Any]) -> None:
        if not intake.reply_stop(conversation_id=self.conversation.pk):
            # The reply may be running in another server process: ask every customer socket's
            # process (on a group of their own: agents' sockets know nothing of this). Or its
            # process died: then it ends now.
            await self._group_send(self.control_group, {"type": "chat.stop"})
            await intake.lost_replies_recover(conversation_id=self.conversation.pk)

    async def receive_handoff(self, frame: dict[str, Any]) -> None:
        await database_call(handoff_request)(
            conversation_id=self.conversation.pk, requested_by="customer"
        )
        intake.reply_stop(conversation_id=self.conversation.pk)

    async def receive_rate(self, frame: dict[str, Any]) -> None:
        comment = frame.get("comment", "")
        if not isinstance(comment, str):
            return await self.send_error("malformed", "The comment must be text.")
        await database_call(conversation_rate)(
            conversation_id=self.conversation.pk, rating=frame.get("rating"), comment=comment
        )

    async def receive_typing(self, frame: dict[str, Any]) -> None:
        now = time.monotonic()
        active = frame.get("active", True) is not False
        if active and now - self.last_typing < 2.0:
            return
        self.last_typing = now if active else 0.0
        await self._group_send(self.group, event_message(Typing(role="customer", active=active)))

    handlers = {
        "message": receive_message,
        "stop": receive_stop,
        "handoff": receive_handoff,
        "rate": receive_rate,
        "typing": receive_typing,
        "action.decide": receive_action_decide,
    }

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its close_old_connections() before every message.

        That call runs on the one thread all thread-sensitive database work shares, so every
        delta frame would queue behind the engine's writes. Nothing here touches the ORM
        outside database_call, which closes stale connections itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Messages from the conversation's group.

    def _layer_message_take(self, message: dict[str, Any]) -> bool:
        """The layer's direct delivery in this process: conversation events, at once."""
        if message.get("type") != "chat.event":
            return False  # chat.stop and the rest take the usual way, through dispatch
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._event_take(message)
        else:  # published from another thread's loop (async_to_sync in sync code)
            loop.call_soon_threadsafe(self._event_take, message)
        return True

    async def chat_event(self, message: dict[str, Any]) -> None:
        """A conversation event through the layer's queue (from another process)."""
        self._event_take(message)

    def _event_take(self, message: dict[str, Any]) -> None:
        event = message["event"]
        kind = event.get("type")
        if kind == "typing" and event.get("role") == "customer":
            return  # the customer's other tabs need not see their own typing
        if kind == StatusChanged.type and not bot_may_write(
            event.get("status", ""), allow_waiting=True
        ):
            # An agent took over (or someone closed it): a reply running here stops now rather
            # than at its next checkpoint; its final write records it as superseded.
            intake.reply_stop(conversation_id=self.conversation_id)
        frame = message.get("frame")
        self._frame_queue(frame if frame is not None else event_frame(event))

    def _frame_queue(self, frame: str) -> None:
        """Queue a conversation frame; it goes out after whatever the socket is answering.

        While a client frame is handled (auth and its replay, a message until it is accepted)
        events wait, as they did behind Channels' dispatch: the client sees session.ready and
        the history before live events, and message.accepted before the reply.
        """
        if self.rejected:
            return
        if self.outbox is None:
            self.outbox = collections.deque()
        self.outbox.append(frame)
        if len(self.outbox) >= SLOW_CLIENT_FRAMES:
            self.outbox.clear()
            self.rejected = True
            logger.info("Closing a customer socket whose client reads too slowly")
            # Held here: the loop keeps only a weak reference to a task.
            self.closing = self._loop.create_task(self._close_slow())
        elif not self.busy:
            self._writer_start()

    def _writer_start(self) -> None:
        if self.writer is None:
            self.writer = self._loop.create_task(self._frames_send())

    async def _frames_send(self) -> None:
        outbox = self.outbox
        try:
            while outbox and not self.busy and not self.rejected:
                # Straight to the server's send: Channels' two send wrappers only build this.
                await self.base_send({"type": "websocket.send", "text": outbox.popleft()})
        except Exception:  # the client is gone: nothing more to send it
            logger.debug("Sending to a customer socket failed", exc_info=True)
            outbox.clear()
        finally:
            self.writer = None

    async def _close_slow(self) -> None:
        try:
            await self.send_error("slow_client", "Too many frames waiting; reconnecting.")
            await self.close(code=CLOSE_LAYER_LOST)
        except Exception:
            logger.debug("Closing a slow customer socket failed", exc_info=True)

    async def chat_stop(self, message: dict[str, Any]) -> None:
        intake.reply_stop(conversation_id=self.conversation_id)

    # --- Sending.

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, separators=(",", ":"), default=str))

    async def send_event(self, event: Event) -> None:
        await self.send_json(event.to_dict())

    async def send_error(self, code: str, message: str, client_id: Any = None) -> None:
        payload = Error(code=code, message=message).to_dict()
        if isinstance(client_id, str) and text_problem(client_id) is None:
            payload["client_id"] = client_id[:MAX_CLIENT_ID_CHARS]
        await self.send_json(payload)


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other websocket path: accepted only to close with 4404, rather than an HTTP 500."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND)
