"""Appending messages to a conversation in order, idempotently, and reading them back."""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.agents.access import agent_avatar_url, agent_name
from conversations.domain.errors import DomainError
from conversations.domain.webhooks import webhook_emit
from conversations.models import Conversation, Message, MessageRole, MessageState, WebhookEvent


def message_text_check(*, text: str, attachments: int = 0) -> None:
    """The one rule for what a person may send: some text or an image, within the length limit."""
    limit = settings.SUPPORTBOT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise DomainError("too_long", f"Messages are at most {limit:,} characters.")
    if not text.strip() and not attachments:
        raise DomainError("empty", "The message is empty.")


def message_append(
    *,
    conversation_id: Any,
    role: str,
    text: str = "",
    client_id: str | None = None,
    state: str = MessageState.COMPLETE,
    **fields: Any,
) -> tuple[Message, bool]:
    """Store a message with the next sequence number; a known client_id returns the stored one.

    Returns the message and whether it was created. The conversation row is locked while the
    sequence number is taken, so concurrent writers (other processes included) never collide.
    """
    if role not in MessageRole.values:
        raise ValueError(f"Unknown message role {role!r}.")
    now = timezone.now()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update().only("id", "last_seq").get(pk=conversation_id)
        )
        if client_id:
            existing = Message.objects.filter(
                conversation_id=conversation_id, client_id=client_id
            ).first()
            if existing is not None:
                return existing, False
        seq = conversation.last_seq + 1
        Conversation.objects.filter(pk=conversation_id).update(
            last_seq=seq, last_message_at=now, updated_at=now
        )
        message = Message.objects.create(
            conversation_id=conversation_id,
            seq=seq,
            role=role,
            text=text,
            client_id=client_id or None,
            state=state,
            **fields,
        )
        webhook_message_created(message=message)
    return message, True


def messages_after(*, conversation_id: Any, after_seq: int = 0, limit: int = 500) -> list[Message]:
    """Messages a reconnecting client missed, in order."""
    return list(
        Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq)
        .select_related("author__agent_profile")
        .prefetch_related("attachments")
        .order_by("seq")[:limit]
    )


def message_serialize(message: Message) -> dict[str, Any]:
    """The public shape of a stored message, the same for every transport."""
    author = message.author
    return {
        "id": message.pk,
        "seq": message.seq,
        "role": message.role,
        "text": message.text,
        "state": message.state,
        "client_id": message.client_id,
        "event": message.event,
        "data": message.data,
        "sources": message.sources,
        "agent_name": agent_name(author),
        "agent_avatar": agent_avatar_url(author),
        "attachments": [
            {"id": str(a.pk), "content_type": a.content_type, "width": a.width, "height": a.height}
            for a in message.attachments.all()
        ],
        "created_at": message.created_at.isoformat(),
    }


WEBHOOK_MESSAGE_ROLES = {MessageRole.CUSTOMER, MessageRole.ASSISTANT, MessageRole.AGENT}


def webhook_message_created(*, message: Message) -> None:
    """message.created for a finished customer, assistant or agent message (after commit).

    message_append calls it for messages stored complete; whoever completes a streamed
    assistant message (the reply runner) calls it then. The payload is the message's one
    public shape (message_serialize), built after commit and only if an endpoint wants it.
    """
    if message.role == MessageRole.ASSISTANT and not message.text:
        return  # a tool-call turn: the answer that follows is the message people see
    if message.role in WEBHOOK_MESSAGE_ROLES and message.state == MessageState.COMPLETE:
        webhook_emit(
            event=WebhookEvent.MESSAGE_CREATED,
            conversation_id=message.conversation_id,
            data=lambda: {
                "conversation_id": str(message.conversation_id),
                "message": message_serialize(message),
            },
        )
