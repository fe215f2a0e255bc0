"""Replies whose process died: the lease each running reply holds, and the sweep that ends them.

A reply runs in the process that received the customer's message, and processes die (a deploy,
the OOM killer, SIGKILL). Its assistant row holds a lease: the process writing it and an expiry,
renewed at checkpoints and by the sweep of its process every third of the lease. The sweep runs
at start-up and then every third of the lease on every ASGI process (checking the channel layer
every few seconds on the way, see domain/realtime.py). It ends each streaming row whose lease
expired (or whose owner is a process of this host that is gone): the row becomes `interrupted`
with finish_reason `lost`, the conversation's clients get `assistant.done`, and the customer's
unanswered message is answered once more, at most once per message.
"""

import asyncio
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations.database import database_call
from conversations.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageRole,
    MessageState,
)

logger = logging.getLogger(__name__)

LOST = "lost"
# How often each process checks that the channel layer (Redis) still takes messages.
LAYER_CHECK_SECONDS = 2.0

_process: tuple[int, str] | None = None


def _pid_space() -> str:
    """Where this process's pid means something: the host and its pid namespace.

    Containers sharing a hostname (host networking) have pid namespaces of their own; a pid
    is only checked against processes of the same namespace.
    """
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}" if namespace else socket.gethostname()


def process_id() -> str:
    """This process, as a lease owner: host, pid and a token (a pid is reused after a restart)."""
    global _process
    pid = os.getpid()
    if _process is None or _process[0] != pid:  # a forked worker is a process of its own
        _process = (pid, f"{_pid_space()}:{pid}:{secrets.token_hex(4)}")
    return _process[1]


def lease_seconds() -> float:
    return settings.SUPPORTBOT_REPLY_LEASE_SECONDS


def lease_expiry() -> datetime:
    return timezone.now() + timedelta(seconds=lease_seconds())


def leases_renew() -> int:
    """Extend the lease of every reply this process is writing; how many there are."""
    return Message.objects.filter(lease_owner=process_id(), state=MessageState.STREAMING).update(
        lease_expires_at=lease_expiry()
    )


def _owner_gone(owner: str) -> bool:
    """Whether the lease's owner is a process of this host that no longer runs."""
    try:
        host, pid_text, _token = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != _pid_space():
        return False  # another machine's (or container's) process: only its expiry tells
    if pid == os.getpid():
        return owner != process_id()  # this pid, an earlier process (a container restarted)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


@dataclass(frozen=True, slots=True)
class LostReply:
    """A reply ended by the sweep; `retry` when its customer's message is to be answered again."""

    conversation_id: Any
    message_id: int
    seq: int
    text: str
    retry: bool


def _lost_condition(now: datetime, gone_owners: list[str]) -> Q:
    stale = now - timedelta(seconds=lease_seconds())
    never_leased = Q(lease_expires_at__isnull=True, updated_at__lt=stale)
    return Q(lease_expires_at__lt=now) | never_leased | Q(lease_owner__in=gone_owners)


def lost_replies_end(*, conversation_id: Any = None) -> list[LostReply]:
    """End every streaming reply whose process is gone (of one conversation, or all of them)."""
    now = timezone.now()
    streaming = Message.objects.filter(role=MessageRole.ASSISTANT, state=MessageState.STREAMING)
    if conversation_id is not None:
        streaming = streaming.filter(conversation_id=conversation_id)
    owners = set(
        streaming.filter(lease_expires_at__gte=now)
        .exclude(lease_owner=process_id())
        .values_list("lease_owner", flat=True)
        .distinct()
    )
    gone = sorted(owner for owner in owners if owner and _owner_gone(owner))
    condition = _lost_condition(now, gone)
    ended = []
    for pk in streaming.filter(condition).values_list("pk", flat=True)[:500]:
        lost = _lost_reply_end(message_id=pk, condition=condition)
        if lost is not None:
            ended.append(lost)
    return ended


def _lost_reply_end(*, message_id: int, condition: Q) -> LostReply | None:
    with transaction.atomic():
        # The state check makes one sweeper the winner when several processes sweep at once.
        ended = Message.objects.filter(
            condition, pk=message_id, state=MessageState.STREAMING
        ).update(
            state=MessageState.INTERRUPTED,
            finish_reason=LOST,
            lease_owner="",
            lease_expires_at=None,
            updated_at=timezone.now(),
        )
        if not ended:
            return None
        message = Message.objects.only("conversation_id", "seq", "text").get(pk=message_id)
        conversation = (
            Conversation.objects.select_for_update()
            .only("id", "status", "last_seq")
            .get(pk=message.conversation_id)
        )
        return LostReply(
            conversation_id=conversation.pk,
            message_id=message_id,
            seq=message.seq,
            text=message.text,
            retry=_answer_again(conversation=conversation, lost_seq=message.seq),
        )


def _answer_again(*, conversation: Conversation, lost_seq: int) -> bool:
    """The lost reply was the bot's last word, and its customer message lost no reply before.

    Only the dead reply's own rows (tool results) may follow it: a newer customer message has
    its own reply, and an agent who wrote meanwhile has taken over.
    """
    if conversation.status != ConversationStatus.BOT:
        return False
    later = Message.objects.filter(conversation_id=conversation.pk, seq__gt=lost_seq)
    if later.exclude(role__in=[MessageRole.TOOL, MessageRole.ASSISTANT]).exists():
        return False
    asked = (
        Message.objects.filter(
            conversation_id=conversation.pk, role=MessageRole.CUSTOMER, seq__lt=lost_seq
        )
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    if asked is None:
        return False
    lost_before = Message.objects.filter(
        conversation_id=conversation.pk,
        role=MessageRole.ASSISTANT,
        finish_reason=LOST,
        seq__gt=asked,
    ).count()
    return lost_before == 1  # this one: answered once more, never twice


def unanswered_after(*, conversation_id: Any, seq: int) -> bool:
    """Whether message `seq` has no answer: only its lost reply follows (a tool-calling turn,
    tool results and the turn that died with its process), nothing the customer was shown."""
    later = Message.objects.filter(conversation_id=conversation_id, seq__gt=seq).values_list(
        "role", "state", "finish_reason", "text"
    )
    return all(
        role == MessageRole.TOOL
        or (role == MessageRole.ASSISTANT and finish_reason == LOST)
        or (role == MessageRole.ASSISTANT and state == MessageState.COMPLETE and not text)
        for role, state, finish_reason, text in later
    )


# --- The sweep, in every ASGI process.

_sweeper: asyncio.Task | None = None


async def replies_recover(*, conversation_id: Any = None) -> list[LostReply]:
    """End lost replies, tell their conversations' clients, answer their messages once more."""
    from conversations.domain import intake  # intake's reply runner; it never imports this

    return await intake.lost_replies_recover(conversation_id=conversation_id)


async def _sweep_forever() -> None:
    from conversations.domain import intake, realtime

    last_sweep = 0.0
    while True:
        try:
            # Sockets that can no longer hear the layer are closed within seconds, not left
            # silent; their clients reconnect and replay from the database.
            await realtime.layer_check()
            if time.monotonic() - last_sweep >= lease_seconds() / 3:
                last_sweep = time.monotonic()
                if intake.replies_in_process():
                    await database_call(leases_renew)()
                await replies_recover()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database may be away for a moment; the next round tries again.
            logger.exception("Sweeping lost replies failed")
        await asyncio.sleep(min(LAYER_CHECK_SECONDS, lease_seconds() / 3))


def sweeper_start() -> None:
    """Start this process's sweep (idempotent; from the event loop, at start-up or first use)."""
    global _sweeper
    loop = asyncio.get_running_loop()
    if _sweeper is not None and not _sweeper.done() and _sweeper.get_loop() is loop:
        return
    _sweeper = loop.create_task(_sweep_forever(), name="lost replies sweep")


async def sweeper_stop() -> None:
    global _sweeper
    if _sweeper is not None:
        _sweeper.cancel()
        try:
            await _sweeper
        except (asyncio.CancelledError, Exception):
            logger.debug("The sweep ended", exc_info=True)
        _sweeper = None
