"""Customer messages in, bot replies out: the domain piece between the transports and the engine.

A customer message is stored (idempotent on its client id) and published before anyone is told
it was accepted. If the bot owns the conversation, its reply then runs as an asyncio task in
this process, independent of the socket or request that asked for it: a client that drops does
not stop it. The reply's events go to the conversation's group through
conversations.domain.realtime, with deltas coalesced so that one frame carries a few tokens.
Every transport (websocket, SSE, the chat command) calls these functions; none of them talks
to the engine directly.
"""

import asyncio
import contextvars
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from conversations import engine
from conversations.database import database_call
from conversations.domain.errors import DomainError
from conversations.domain.events import (
    AssistantDelta,
    AssistantDone,
    AssistantStarted,
    Error,
    Event,
    MessageCreated,
)
from conversations.domain.messages import (
    message_for_client_id,
    message_insert,
    message_serialize,
    message_text_check,
)
from conversations.domain.realtime import event_publish
from conversations.domain.recovery import LOST, LostReply, lost_replies_end, unanswered_after
from conversations.domain.status import bot_may_write
from conversations.models import (
    Attachment,
    Conversation,
    ConversationStatus,
    Message,
    MessageRole,
    MessageState,
)

logger = logging.getLogger(__name__)

# At most one delta frame per this many seconds: a few tokens a frame at typical model speeds,
# well under what a reader notices.
DELTA_FLUSH_SECONDS = 0.04
MAX_ATTACHMENTS = 4


@dataclass
class Reply:
    """A reply running in this process, and what it has published so far."""

    conversation_id: str
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    seq: int | None = None
    text: str = ""
    again: bool = False
    subscribers: set[asyncio.Queue] = field(default_factory=set)
    # Subscribers who asked for an answer while a turn ran: they get the turn after it.
    next_subscribers: set[asyncio.Queue] = field(default_factory=set)


_replies: dict[str, Reply] = {}


@dataclass(frozen=True, slots=True)
class Posted:
    """The outcome of posting a customer message."""

    message: Message
    payload: dict[str, Any]  # the message's public shape (message_serialize)
    created: bool
    status: str
    reply_started: bool
    # With `subscribe`: the events of the reply that answers this message, else None.
    events: AsyncIterator[Event] | None = None


def _attachments_check(*, conversation_id: Any, ids: list[str], message_pk: int | None) -> list:
    attachments = list(
        Attachment.objects.select_for_update().filter(conversation_id=conversation_id, pk__in=ids)
    )
    if len(attachments) != len(set(ids)) or any(
        a.message_id not in (None, message_pk) for a in attachments
    ):
        raise DomainError("invalid_attachment", "An attached image was not found.")
    return attachments


@dataclass(frozen=True, slots=True)
class _Stored:
    message: Message
    created: bool
    status: str
    unanswered: bool
    payload: dict[str, Any]
    lost: list[LostReply] = field(default_factory=list)


def _customer_message_store(
    *, conversation_id: Any, text: str, client_id: str, attachment_ids: list[str]
) -> _Stored:
    try:
        return _customer_message_store_once(
            conversation_id=conversation_id,
            text=text,
            client_id=client_id,
            attachment_ids=attachment_ids,
        )
    except IntegrityError:
        if not client_id:
            raise
        # The same message sent twice at once: the other attempt stored it, this is a resend.
        return _customer_message_store_once(
            conversation_id=conversation_id,
            text=text,
            client_id=client_id,
            attachment_ids=attachment_ids,
        )


def _customer_message_store_once(
    *, conversation_id: Any, text: str, client_id: str, attachment_ids: list[str]
) -> _Stored:
    with transaction.atomic():
        if client_id:
            existing = message_for_client_id(
                conversation_id=conversation_id, client_id=client_id, attachments=True
            )
            if existing is not None:
                return _resend(conversation_id=conversation_id, existing=existing)
        attachments = (
            _attachments_check(conversation_id=conversation_id, ids=attachment_ids, message_pk=None)
            if attachment_ids
            else []
        )
        # Locked by the write itself: a close (or takeover) that committed before is seen here.
        message, status = message_insert(
            conversation_id=conversation_id,
            role=MessageRole.CUSTOMER,
            text=text,
            client_id=client_id or None,
            allowed=lambda status: status != ConversationStatus.CLOSED,
        )
        if message is None:
            raise DomainError("closed", "This conversation is closed.")
        if attachments:
            Attachment.objects.filter(pk__in=[a.pk for a in attachments]).update(message=message)
        payload = message_serialize(message, attachments=attachments)
    return _Stored(message, True, status, True, payload)


def _resend(*, conversation_id: Any, existing: Message) -> _Stored:
    """A message stored before: its reply may have died with a process; end that reply now
    rather than at the next sweep, so that the resend answers it."""
    conversation = (
        Conversation.objects.select_for_update()
        .only("id", "status", "last_seq")
        .get(pk=conversation_id)
    )
    lost = lost_replies_end(conversation_id=conversation_id)
    unanswered = existing.seq == conversation.last_seq or unanswered_after(
        conversation_id=conversation_id, seq=existing.seq
    )
    payload = message_serialize(existing)
    return _Stored(existing, False, conversation.status, unanswered, payload, lost)


async def customer_message_post(
    *,
    conversation_id: Any,
    text: str,
    client_id: str = "",
    attachment_ids: list[str] = (),
    subscribe: bool = False,
) -> Posted:
    """Store a customer's message, tell every watcher, and start the bot's reply if it answers.

    The one way a customer message enters, for every transport. Refusals raise DomainError:
    too_long, empty, invalid_attachment, closed. A resend with a known client id returns the
    stored message and stores nothing; it starts the reply only if the first attempt never got
    one (the process died in between). With `subscribe`, `events` iterates
    the reply that answers this message (for transports that stream to one client).
    """
    text = text.strip()
    try:
        attachment_ids = list(dict.fromkeys(str(uuid.UUID(str(a))) for a in attachment_ids))
    except ValueError:
        raise DomainError("invalid_attachment", "An attached image was not found.") from None
    if len(attachment_ids) > MAX_ATTACHMENTS:
        raise DomainError("invalid_attachment", f"At most {MAX_ATTACHMENTS} images a message.")
    message_text_check(text=text, attachments=len(attachment_ids))
    stored = await database_call(_customer_message_store)(
        conversation_id=conversation_id,
        text=text,
        client_id=client_id,
        attachment_ids=attachment_ids,
    )
    if stored.created:
        await event_publish(
            conversation_id=conversation_id, event=MessageCreated(message=stored.payload)
        )
    for lost in stored.lost:
        await _lost_reply_announce(lost)
    answer = bot_may_write(stored.status, allow_waiting=False) and (
        stored.created
        or (reply_running(conversation_id=conversation_id) is None and stored.unanswered)
    )
    started = reply_start(conversation_id=conversation_id) if answer else False
    events = None
    if subscribe and answer:
        # Not started now: a reply is running, and the turn after it answers this message.
        events = _subscription(conversation_id=conversation_id, after=not started)
    return Posted(
        message=stored.message,
        payload=stored.payload,
        created=stored.created,
        status=stored.status,
        reply_started=started,
        events=events,
    )


async def _lost_reply_announce(lost: LostReply) -> None:
    """Tell the conversation's clients that a reply lost with its process has ended."""
    await event_publish(
        conversation_id=lost.conversation_id,
        event=AssistantDone(
            seq=lost.seq,
            message_id=lost.message_id,
            text=lost.text,
            state=MessageState.INTERRUPTED,
            finish_reason=LOST,
        ),
    )


async def lost_replies_recover(*, conversation_id: Any = None) -> list[LostReply]:
    """End replies whose process died, tell their clients, and answer their messages again."""
    ended = await database_call(lost_replies_end)(conversation_id=conversation_id)
    for lost in ended:
        logger.warning(
            "The reply #%s of conversation %s lost its process; ended%s",
            lost.seq,
            lost.conversation_id,
            ", answering again" if lost.retry else "",
        )
        try:
            await _lost_reply_announce(lost)
        except Exception:
            logger.exception("Telling conversation %s of a lost reply failed", lost.conversation_id)
        if lost.retry:
            reply_start(conversation_id=lost.conversation_id)
    return ended


def replies_in_process() -> bool:
    """Whether this process is writing any reply (its leases need renewing)."""
    return bool(_replies)


def reply_running(*, conversation_id: Any) -> Reply | None:
    """The reply running in this process for the conversation, if any."""
    return _replies.get(str(conversation_id))


def reply_start(*, conversation_id: Any) -> bool:
    """Start the bot's reply in this process; while one runs, answer again once it is done.

    Returns whether a new reply task was started now. Must be called from the event loop.
    """
    key = str(conversation_id)
    running = _replies.get(key)
    if running is not None:
        running.again = True
        return False
    reply = Reply(conversation_id=key)
    _replies[key] = reply
    # A fresh context: the reply outlives the socket or request that started it, so it must not
    # inherit that caller's thread-sensitive executor, which shuts down when the caller ends.
    reply.task = asyncio.get_running_loop().create_task(
        _reply_run(reply), name=f"reply {key}", context=contextvars.Context()
    )
    return True


def reply_stop(*, conversation_id: Any) -> bool:
    """Stop the reply running in this process; the engine keeps the partial text."""
    reply = _replies.get(str(conversation_id))
    if reply is None:
        return False
    reply.again = False
    reply.cancel.set()
    return True


def reply_events(*, conversation_id: Any, start: bool = True) -> AsyncIterator[Event]:
    """One subscriber's view of the conversation's next reply: its events until done or error.

    For transports that serve one client per request (SSE, the chat command); the events are
    the same coalesced ones the group sees. It starts the reply (with `start`) and subscribes
    at once, not at the first iteration: the reply runs even if nobody iterates, and no event
    is missed. If a reply is already running, `start` subscribes to the turn after it, the
    one sure to answer what was just stored.
    """
    after = start and not reply_start(conversation_id=conversation_id)
    return _subscription(conversation_id=conversation_id, after=after)


def _subscription(*, conversation_id: Any, after: bool) -> AsyncIterator[Event]:
    """Subscribe now to the running reply (or, `after`, to its next turn)."""
    reply = _replies.get(str(conversation_id))
    queue: asyncio.Queue = asyncio.Queue()
    if reply is None:
        queue.put_nowait(None)
    else:
        (reply.next_subscribers if after else reply.subscribers).add(queue)
    return _subscriber_events(reply, queue)


async def _subscriber_events(reply: Reply | None, queue: asyncio.Queue) -> AsyncIterator[Event]:
    try:
        while True:
            event = await queue.get()
            if event is None:
                return
            yield event
            if isinstance(event, AssistantDone | Error):
                return
    finally:
        if reply is not None:
            reply.subscribers.discard(queue)
            reply.next_subscribers.discard(queue)


async def _publish(reply: Reply, event: Event) -> None:
    for queue in reply.subscribers:
        queue.put_nowait(event)
    await event_publish(conversation_id=reply.conversation_id, event=event)


class _Coalescer:
    """Deltas in, at most one delta frame per DELTA_FLUSH_SECONDS out, everything in order.

    Runs inside the engine's loop, with no task switch per token: a delta is appended, and
    either flushed at once (the first after a quiet spell is never held back) or left for a
    timer at the next slot. Anything else flushes what is pending and goes out after it.
    Frames go to `frames`, which one publisher task per reply drains in order.
    """

    def __init__(self, frames: asyncio.Queue) -> None:
        self.frames = frames
        self.loop = asyncio.get_running_loop()
        self.pending: list[str] = []
        self.seq: int | None = None
        self.next_slot = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, AssistantDelta):
            self.seq = event.seq
            self.pending.append(event.text)
            if self.loop.time() >= self.next_slot:
                self.flush()
            elif self.timer is None:
                self.timer = self.loop.call_at(self.next_slot, self._slot_reached)
            return
        self.flush()
        self.frames.put_nowait(event)

    def _slot_reached(self) -> None:
        self.timer = None  # it has run: nothing to cancel
        self.flush()

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending:
            text = "".join(self.pending)
            self.pending.clear()
            self.next_slot = self.loop.time() + DELTA_FLUSH_SECONDS
            self.frames.put_nowait(AssistantDelta(seq=self.seq, text=text))


async def _produce(reply: Reply, frames: asyncio.Queue) -> None:
    """Run one turn of the engine, its events coalesced into `frames`; None at the end."""
    coalescer = _Coalescer(frames)
    try:
        async for event in engine.reply_stream(
            conversation_id=reply.conversation_id, cancel=reply.cancel
        ):
            coalescer.add(event)
    except Exception:
        logger.exception("Reply to conversation %s failed", reply.conversation_id)
        coalescer.add(
            Error(
                code="reply_failed",
                message="Sorry, something went wrong while answering. Please try again.",
                seq=reply.seq if reply.seq is not None else coalescer.seq,
            )
        )
    finally:
        coalescer.flush()
        frames.put_nowait(None)


async def _relay(reply: Reply, frames: asyncio.Queue) -> None:
    """Publish the turn's frames in order; deltas get their offset in the reply's text here."""
    while True:
        event = await frames.get()
        if event is None:
            return
        if isinstance(event, AssistantDelta):
            if reply.seq is None:
                reply.seq = event.seq
            offset = len(reply.text)
            reply.text += event.text
            event = AssistantDelta(seq=event.seq, text=event.text, offset=offset)
        elif isinstance(event, AssistantStarted):
            reply.seq, reply.text = event.seq, ""
        await _publish(reply, event)


async def _reply_run(reply: Reply) -> None:
    try:
        while True:
            frames: asyncio.Queue = asyncio.Queue()
            producer = asyncio.create_task(_produce(reply, frames))
            try:
                await _relay(reply, frames)
            finally:
                if not producer.done():
                    producer.cancel()
            # reply_stop clears `again`: set now, a message arrived after any stop, so it is
            # answered in one more turn, with a fresh cancel for that turn.
            if not reply.again:
                return
            reply.again, reply.seq, reply.text = False, None, ""
            reply.cancel = asyncio.Event()
            reply.subscribers |= reply.next_subscribers
            reply.next_subscribers.clear()
    except Exception:
        logger.exception("Relaying the reply to conversation %s failed", reply.conversation_id)
    finally:
        _replies.pop(reply.conversation_id, None)
        for queue in reply.subscribers | reply.next_subscribers:
            queue.put_nowait(None)


async def replies_wait() -> None:
    """Wait for every reply running in this process (tests, graceful shutdown)."""
    tasks = [reply.task for reply in list(_replies.values()) if reply.task is not None]
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
