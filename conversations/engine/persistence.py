"""How a reply is stored: assistant rows opened and closed under the owner check, tool results.

Sync functions, each called from the async loop through conversations.database.database_call.
The owner of the conversation is re-checked under a row lock before anything the bot writes is
kept.
"""

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.domain.recovery import lease_expiry, process_id
from conversations.domain.status import bot_may_write, bot_writable_statuses
from conversations.domain.webhooks import webhook_message_created
from conversations.engine.backends import Usage
from conversations.engine.context import History, history_load
from conversations.models import (
    Conversation,
    Message,
    MessageRole,
    MessageState,
)
from conversations.tools import ToolOutcome


def reply_setup(conversation_id: Any) -> History | None:
    conversation = (
        Conversation.objects.select_related("bot", "customer").filter(pk=conversation_id).first()
    )
    if conversation is None or not bot_may_write(conversation.status, allow_waiting=False):
        return None
    return history_load(conversation_id=conversation_id, conversation=conversation)


def assistant_row_create(
    *, conversation_id: Any, engine: str, model: str, allow_waiting: bool
) -> Message | None:
    with transaction.atomic():
        status = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation_id)
            .values_list("status", flat=True)
            .first()
        )
        if status is None or not bot_may_write(status, allow_waiting=allow_waiting):
            return None
        message, _ = message_append(
            conversation_id=conversation_id,
            role=MessageRole.ASSISTANT,
            state=MessageState.STREAMING,
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
    updated = Message.objects.filter(
        pk=message_id, conversation__status__in=statuses, state=MessageState.STREAMING
    ).update(text=text, updated_at=timezone.now(), lease_expires_at=lease_expiry())
    return updated == 1


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
        status = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation_id)
            .values_list("status", flat=True)
            .first()
        )
        if not bot_may_write(status or "", allow_waiting=allow_waiting):
            fields["state"] = MessageState.INTERRUPTED
            fields["finish_reason"] = "superseded"
        Message.objects.filter(pk=message_id).update(
            lease_owner="",
            lease_expires_at=None,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=cost,
            updated_at=timezone.now(),
            **fields,
        )
        Conversation.objects.filter(pk=conversation_id).update(
            prompt_tokens=F("prompt_tokens") + usage.prompt_tokens,
            completion_tokens=F("completion_tokens") + usage.completion_tokens,
            cost_usd=F("cost_usd") + cost,
        )
        if fields.get("state") == MessageState.COMPLETE:
            # Sent after commit, once, whichever transport asked for the reply.
            webhook_message_created(message=Message.objects.get(pk=message_id))
    return fields["state"], fields["finish_reason"]


def conversation_usage_add(*, conversation_id: Any, usage: Usage, cost: Decimal) -> None:
    Conversation.objects.filter(pk=conversation_id).update(
        prompt_tokens=F("prompt_tokens") + usage.prompt_tokens,
        completion_tokens=F("completion_tokens") + usage.completion_tokens,
        cost_usd=F("cost_usd") + cost,
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
