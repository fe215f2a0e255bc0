"""Appending messages to a conversation in order, idempotently, and reading them back."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from conversations.agents.access import agent_avatar_url, agent_name
from conversations.domain.conversation_lock import conversation_seq_take
from conversations.domain.errors import DomainError
from conversations.domain.rows import columns, row_insert, statement_cursor, table
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
    if client_id:
        existing = message_for_client_id(conversation_id=conversation_id, client_id=client_id)
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            message, _status = message_insert(
                conversation_id=conversation_id,
                role=role,
                text=text,
                client_id=client_id,
                state=state,
                **fields,
            )
    except IntegrityError:
        # The same client id stored meanwhile by a concurrent attempt: that one is the message.
        existing = (
            message_for_client_id(conversation_id=conversation_id, client_id=client_id)
            if client_id
            else None
        )
        if existing is None:
            raise
        return existing, False
    return message, True


def message_for_client_id(
    *, conversation_id: Any, client_id: str, attachments: bool = False
) -> Message | None:
    """The conversation's message with this client id (unique per conversation), if stored.

    With `attachments`, their rows come along (message_serialize reads them).
    """
    # Hand-written (domain/rows.py): every customer message asks, and almost never finds one.
    found = columns(Message, "m")
    with statement_cursor() as cursor:
        cursor.execute(
            f"SELECT {found.sql} FROM {table(Message)} m "
            "WHERE m.conversation_id = %s AND m.client_id = %s",
            [Conversation._meta.pk.get_db_prep_value(conversation_id, connection), client_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    message = found.instance(row)
    if attachments:
        prefetch_related_objects([message], "attachments")
    return message


def message_insert(
    *,
    conversation_id: Any,
    role: str,
    text: str = "",
    client_id: str | None = None,
    state: str = MessageState.COMPLETE,
    allowed: Callable[[str], bool] | None = None,
    **fields: Any,
) -> tuple[Message | None, str]:
    """Lock the conversation, take the next sequence number and store the message: two queries.

    Inside the caller's transaction, with no client id lookup (the caller did it). `allowed`
    (the conversation's status -> may this be written) refuses under the lock: the transaction
    is marked for rollback and the message is None. Returns the message and the status.
    """
    if role not in MessageRole.values:
        raise ValueError(f"Unknown message role {role!r}.")
    now = timezone.now()
    locked = conversation_seq_take(conversation_id=conversation_id, now=now)
    if locked is None:
        raise Conversation.DoesNotExist(f"No conversation {conversation_id}.")
    if allowed is not None and not allowed(locked.status):
        transaction.set_rollback(True)
        return None, locked.status
    if "tokens" not in fields and state == MessageState.COMPLETE:
        # Not at import: conversations.engine imports this module.
        from conversations.engine.tokens import stored_tokens

        fields["tokens"] = stored_tokens(
            role=role,
            text=text,
            tool_calls=fields.get("tool_calls"),
            tool_call_id=fields.get("tool_call_id", ""),
            event=fields.get("event", ""),
        )
    message = Message(
        conversation_id=conversation_id,
        seq=locked.last_seq,
        role=role,
        text=text,
        client_id=client_id or None,
        state=state,
        **fields,
    )
    row_insert(message)  # Message has no save receivers
    if locked.webhooks:
        webhook_message_created(message=message)
    return message, locked.status


def messages_after(*, conversation_id: Any, after_seq: int = 0, limit: int = 500) -> list[Message]:
    """Messages a reconnecting client missed, in order."""
    return list(
        Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq)
        .select_related("author__agent_profile")
        .prefetch_related("attachments")
        .order_by("seq")[:limit]
    )


def message_serialize(message: Message, *, attachments: list | None = None) -> dict[str, Any]:
    """The public shape of a stored message, the same for every transport.

    `attachments`: the message's, when the caller has them (saves a query).
    """
    author = message.author
    if attachments is None:
        attachments = message.attachments.all()
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
            for a in attachments
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
