"""How a reply is stored: assistant rows opened, checkpointed and closed under the owner check,
and tool results; and how a copilot draft is (one ReplyDraft row, never a message).

Sync functions, each called from the async loop through conversations.database.database_call.
The owner of the conversation is re-checked under a row lock before anything the bot writes is
kept.
"""

import asyncio
import contextvars
import functools
import logging
import time
import weakref
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from conversations.database import database_call
from conversations.domain.budget import conversation_usage_add
from conversations.domain.conversation_lock import conversation_usage_take
from conversations.domain.messages import message_append, message_insert, webhook_message_created
from conversations.domain.recovery import lease_expiry, process_id
from conversations.domain.rows import row_update, statement_cursor
from conversations.domain.status import bot_may_write, bot_writable_statuses
from conversations.engine.backends import Usage
from conversations.engine.cancel import Stop
from conversations.engine.context import History, history_conversation, history_load
from conversations.engine.pricing import cost_usd
from conversations.engine.tokens import stored_tokens
from conversations.models import (
    Conversation,
    Message,
    MessageRole,
    MessageState,
    ReplyDraft,
)
from conversations.tools import ToolCall, ToolOutcome

logger = logging.getLogger(__name__)

# Partial text is saved this often; the same write re-checks that the bot still owns the
# conversation (a takeover seen by a socket in this process stops the reply at once).
CHECKPOINT_SECONDS = 2.0
CHECKPOINT_DELTAS = 120


def reply_setup(conversation_id: Any) -> History | None:
    conversation = history_conversation(conversation_id)
    if conversation is None or not bot_may_write(conversation.status, allow_waiting=False):
        return None
    return history_load(conversation_id=conversation_id, conversation=conversation)


def assistant_row_create(
    *, conversation_id: Any, engine: str, model: str, allow_waiting: bool
) -> Message | None:
    with transaction.atomic():
        message, _status = message_insert(
            conversation_id=conversation_id,
            role=MessageRole.ASSISTANT,
            state=MessageState.STREAMING,
            allowed=lambda status: bot_may_write(status, allow_waiting=allow_waiting),
            engine=engine,
            model=model,
            lease_owner=process_id(),
            lease_expires_at=lease_expiry(),
        )
    return message


def checkpoint(*, conversation_id: Any, message_id: int, text: str, allow_waiting: bool) -> bool:
    """Save the partial text and renew the reply's lease; False when the bot no longer owns
    the conversation (or the sweep ended the reply, its lease having expired).

    One statement: the update only matches while the conversation's status lets the bot write.
    """
    statuses = bot_writable_statuses(allow_waiting=allow_waiting)
    with statement_cursor() as cursor:
        cursor.execute(
            _checkpoint_sql(len(statuses)),
            [
                text,
                connection.ops.adapt_datetimefield_value(timezone.now()),
                connection.ops.adapt_datetimefield_value(lease_expiry()),
                message_id,
                MessageState.STREAMING,
                *statuses,
            ],
        )
        return cursor.rowcount == 1


def checkpoints_write(batch: list[dict[str, Any]]) -> list[bool | Exception]:
    """Several replies' checkpoints: `checkpoint(**saved)` for each, or the error it met.

    On SQLite in one transaction (one writer at a time anyway: one commit for all, and an
    error fails them all). Elsewhere each commits alone: two transactions updating several
    of the same rows in different orders (this and the sweep's lease renewal) could deadlock,
    and one reply's error stays its own.
    """
    if connection.vendor == "sqlite" and len(batch) > 1:
        with transaction.atomic():
            return [checkpoint(**saved) for saved in batch]
    owned: list[bool | Exception] = []
    for saved in batch:
        try:
            owned.append(checkpoint(**saved))
        except Exception as error:  # the database's: this reply fails as it did alone
            owned.append(error)
    return owned


@functools.cache
def _checkpoint_sql(statuses: int) -> str:
    """The checkpoint's UPDATE, written by hand: the ORM's (a join turned into `id IN (SELECT
    ...)` on SQLite) cost more CPU to build than the database spent running it."""
    message = connection.ops.quote_name(Message._meta.db_table)
    conversation = connection.ops.quote_name(Conversation._meta.db_table)
    marks = ", ".join(["%s"] * statuses)
    return (
        f"UPDATE {message} SET text = %s, updated_at = %s, lease_expires_at = %s "
        f"WHERE id = %s AND state = %s AND EXISTS (SELECT 1 FROM {conversation} "
        f"WHERE {conversation}.id = {message}.conversation_id AND {conversation}.status IN "
        f"({marks}))"
    )


def row_finish(
    *,
    conversation_id: Any,
    message_id: int,
    allow_waiting: bool,
    usage: Usage,
    cost: Decimal,
    **fields: Any,
) -> tuple[str, str]:
    """The final write of an assistant message, owner re-checked under a row lock.

    Returns the stored state and finish_reason: a human who took over meanwhile wins, and
    the message ends interrupted with finish_reason "superseded".
    """
    with transaction.atomic():
        locked = conversation_usage_take(
            conversation_id=conversation_id,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost=cost,
        )
        if locked is None or not bot_may_write(locked.status, allow_waiting=allow_waiting):
            fields["state"] = MessageState.INTERRUPTED
            fields["finish_reason"] = "superseded"
        tokens = stored_tokens(
            role=MessageRole.ASSISTANT,
            text=fields.get("text", ""),
            tool_calls=fields.get("tool_calls"),
        )
        row_update(
            Message,
            message_id,
            lease_owner="",
            lease_expires_at=None,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=cost,
            tokens=tokens,
            updated_at=timezone.now(),
            **fields,
        )
        if locked is not None and locked.webhooks and fields.get("state") == MessageState.COMPLETE:
            # Sent after commit, once, whichever transport asked for the reply.
            webhook_message_created(message=Message.objects.get(pk=message_id))
    return fields["state"], fields["finish_reason"]


def _usage_count(*, conversation_id: Any, usage: Usage, cost: Decimal) -> None:
    conversation_usage_add(
        conversation_id=conversation_id,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost=cost,
    )


def usage_cost(*, model: str, usage: Usage) -> Decimal:
    return cost_usd(
        model=model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
    )


def tool_message_store(*, conversation_id: Any, outcome: ToolOutcome) -> Message:
    message, _ = message_append(
        conversation_id=conversation_id,
        role=MessageRole.TOOL,
        text=outcome.content,
        tool_call_id=outcome.call_id,
        data={
            "tool": outcome.name,
            "status": outcome.status,
            "label": outcome.label,
            "duration_ms": outcome.duration_ms,
        },
        sources=outcome.sources,
    )
    return message


def draft_row_create(*, conversation_id: Any, agent_id: int | None, tools: list[str]) -> int:
    """A copilot draft's row, with the tools it is offered (tools/runs.py holds runs to them)."""
    draft = ReplyDraft.objects.create(
        conversation_id=conversation_id, agent_id=agent_id, tools=tools
    )
    return draft.pk


def draft_row_finish(
    *,
    conversation_id: Any,
    draft_id: int,
    usage: Usage,
    cost: Decimal,
    text: str,
    state: str,
    finish_reason: str,
) -> None:
    """One round of a draft: its text so far, state, and usage added to the draft's and the
    conversation's totals (the bot's budget counts drafts too)."""
    with transaction.atomic():
        ReplyDraft.objects.filter(pk=draft_id).update(
            text=text,
            state=state,
            finish_reason=finish_reason,
            prompt_tokens=F("prompt_tokens") + usage.prompt_tokens,
            completion_tokens=F("completion_tokens") + usage.completion_tokens,
            cost_usd=F("cost_usd") + cost,
            updated_at=timezone.now(),
        )
        _usage_count(conversation_id=conversation_id, usage=usage, cost=cost)


# --- The assistant row's lifecycle, from the async reply loop.


@dataclass(slots=True)
class Row:
    """The assistant message being written."""

    id: int
    seq: int
    text: str = ""
    refusal: bool = False
    ttft_ms: int | None = None
    calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = ""
    usage: Usage = field(default_factory=lambda: Usage(0, 0, 0))
    checkpoint_at: float = 0.0
    deltas_since_checkpoint: int = 0
    # The checkpoint being written: the stream never waits for it (see row_checkpoint).
    pending: "asyncio.Future[bool] | None" = None
    announced: bool = False
    # How much of `text` the client has been sent; the rest is held back by the leak guard,
    # and only what was sent is saved at checkpoints.
    sent: int = 0
    watch: Any = None  # the leak guard's LeakWatch for this row

    @classmethod
    def of(cls, message: Message) -> "Row":
        return cls(id=message.pk, seq=message.seq, checkpoint_at=time.monotonic())


async def row_open(
    *, conversation_id: Any, engine: str, model: str, allow_waiting: bool
) -> Row | None:
    """The next assistant row of a reply; None when the bot no longer owns the conversation."""
    message = await database_call(assistant_row_create)(
        conversation_id=conversation_id, engine=engine, model=model, allow_waiting=allow_waiting
    )
    return Row.of(message) if message is not None else None


class _CheckpointWriter:
    """The checkpoints of one event loop's replies, written together.

    Each checkpoint used to be a thread hop and a transaction of its own: 125 a second at 250
    streams, each queueing for the database thread (SQLite's one writer) behind the others.
    Here the checkpoints that fall due while a batch is being written wait and go together
    in the next one: one hop (one transaction on SQLite, see checkpoints_write), the same
    statement and answer per reply. A lone checkpoint goes at once (no timer), so nothing is
    saved later than before.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: list[tuple[dict[str, Any], asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    def add(self, saved: dict[str, Any]) -> "asyncio.Future[bool]":
        """The checkpoint's answer to come: True while the bot still owns the conversation."""
        answer = self.loop.create_future()
        self.waiting.append((saved, answer))
        if self.task is None:
            # Its own context: the writer serves every reply of the loop, not the first's.
            self.task = self.loop.create_task(self._write(), context=contextvars.Context())
        return answer

    async def _write(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                answers = [answer for _, answer in batch]
                try:
                    owned = await database_call(checkpoints_write)([saved for saved, _ in batch])
                except BaseException as error:
                    for answer in answers:
                        if not answer.done():
                            if isinstance(error, Exception):
                                answer.set_exception(error)
                            else:
                                answer.cancel()
                    if not isinstance(error, Exception):
                        raise
                    continue
                for answer, result in zip(answers, owned, strict=True):
                    if answer.done():
                        continue
                    if isinstance(result, Exception):
                        answer.set_exception(result)
                    else:
                        answer.set_result(result)
        finally:
            self.task = None
            for _, answer in self.waiting:  # cancelled (the loop is closing): nothing written
                answer.cancel()
            self.waiting = []


_checkpoint_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _CheckpointWriter]"
_checkpoint_writers = weakref.WeakKeyDictionary()


def checkpoint_save(**saved: Any) -> "asyncio.Future[bool]":
    """`checkpoint(**saved)` written with whatever other checkpoints fall due meanwhile."""
    loop = asyncio.get_running_loop()
    writer = _checkpoint_writers.get(loop)
    if writer is None:
        writer = _checkpoint_writers[loop] = _CheckpointWriter(loop)
    return writer.add(saved)


def row_checkpoint(row: Row, *, conversation_id: Any, allow_waiting: bool) -> None:
    """Save the partial text now and then, without holding the stream up.

    The write runs beside the stream (a thread and a database round trip per second and
    reply would otherwise stall every delta behind it), batched with other replies'
    (_CheckpointWriter); its answer, whether the bot still owns the conversation, is read at
    the next delta after it lands and raises Stop if not. One write at a time per message,
    and the final write waits for it (row_close), so it never lands last.
    """
    row.deltas_since_checkpoint += 1
    pending = row.pending
    if pending is not None:
        if not pending.done():
            return
        row.pending = None
        if not pending.result():
            raise Stop("superseded")
    now = time.monotonic()
    if (
        now - row.checkpoint_at < CHECKPOINT_SECONDS
        and row.deltas_since_checkpoint < CHECKPOINT_DELTAS
    ):
        return
    row.checkpoint_at, row.deltas_since_checkpoint = now, 0
    row.pending = checkpoint_save(
        conversation_id=conversation_id,
        message_id=row.id,
        text=row.text[: row.sent],
        allow_waiting=allow_waiting,
    )


async def _checkpoint_settle(row: Row, *, conversation_id: Any) -> None:
    """Wait for a checkpoint still being written; the final write re-checks the owner."""
    pending, row.pending = row.pending, None
    if pending is None:
        return
    try:
        await pending
    except Exception:
        logger.exception("Saving the partial reply to %s failed", conversation_id)


async def row_close(
    row: Row,
    *,
    conversation_id: Any,
    model: str,
    allow_waiting: bool,
    state: str,
    finish_reason: str,
    **fields: Any,
) -> tuple[str, str, Decimal]:
    """The row's final write (after any checkpoint in flight): (state, finish_reason, cost)."""
    await _checkpoint_settle(row, conversation_id=conversation_id)
    cost = usage_cost(model=model, usage=row.usage)
    state, finish_reason = await database_call(row_finish)(
        conversation_id=conversation_id,
        message_id=row.id,
        allow_waiting=allow_waiting,
        usage=row.usage,
        cost=cost,
        text=row.text,
        state=state,
        finish_reason=finish_reason,
        tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in row.calls],
        ttft_ms=row.ttft_ms,
        **fields,
    )
    return state, finish_reason, cost
