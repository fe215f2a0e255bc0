"""The history's two reads, written by hand: the conversation (bot, customer, summary, whether
any image was ever attached) and its messages (with their authors).

They run before every reply, and building them with the ORM (select_related over four models,
an EXISTS annotation, an exclude, a prefetch) cost more CPU than the database spent running
them (docs/performance.md). The SQL of each is built once per process from the models' own
fields (conversations/domain/rows.py).
"""

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from conversations.domain.rows import columns as _columns
from conversations.domain.rows import statement_cursor
from conversations.domain.rows import table as _table
from conversations.engine.tokens import ORDER_ACTION_EVENT
from conversations.models import (
    Attachment,
    Bot,
    ContextSummary,
    Conversation,
    Customer,
    Message,
    MessageRole,
)

# What the history reads of a message (turns_build, last_customer): the rest stays deferred.
MESSAGE_FIELDS = (
    "id",
    "conversation_id",
    "seq",
    "role",
    "text",
    "author_id",
    "tool_calls",
    "tool_call_id",
    "event",
    "state",
    "tokens",
)


@functools.cache
def _conversation_sql(vendor: str) -> str:
    conversation, bot, customer, summary = (
        _columns(Conversation, "c"),
        _columns(Bot, "b"),
        _columns(Customer, "u"),
        _columns(ContextSummary, "s"),
    )
    return (
        f"SELECT {conversation.sql}, {bot.sql}, {customer.sql}, {summary.sql}, "
        f"EXISTS (SELECT 1 FROM {_table(Attachment)} a WHERE a.conversation_id = c.id) "
        f"FROM {_table(Conversation)} c "
        f"INNER JOIN {_table(Bot)} b ON b.id = c.bot_id "
        f"INNER JOIN {_table(Customer)} u ON u.id = c.customer_id "
        f"LEFT OUTER JOIN {_table(ContextSummary)} s ON s.conversation_id = c.id "
        "WHERE c.id = %s"
    )


def history_conversation_row(conversation_id: Any) -> Conversation | None:
    """The conversation, its bot, customer and summary (or None) cached on it, and
    `has_attachments`: one query."""
    with statement_cursor() as cursor:
        cursor.execute(
            _conversation_sql(connection.vendor),
            [Conversation._meta.pk.get_db_prep_value(conversation_id, connection)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    columns = [_columns(m, a) for m, a in ((Conversation, "c"), (Bot, "b"), (Customer, "u"))]
    summary_columns = _columns(ContextSummary, "s")
    start = 0
    made = []
    for each in (*columns, summary_columns):
        made.append(each.instance(row, start) if row[start] is not None else None)
        start += len(each.attnames)
    conversation, bot, customer, summary = made
    Conversation.bot.field.set_cached_value(conversation, bot)
    Conversation.customer.field.set_cached_value(conversation, customer)
    Conversation.context_summary.related.set_cached_value(conversation, summary)
    conversation.has_attachments = bool(row[start])
    return conversation


@functools.cache
def _messages_sql(vendor: str) -> str:
    message = _columns(Message, "m", MESSAGE_FIELDS)
    author = _columns(get_user_model(), "a")
    return (
        f"SELECT {message.sql}, {author.sql} FROM {_table(Message)} m "
        f"LEFT OUTER JOIN {_table(get_user_model())} a ON a.id = m.author_id "
        "WHERE m.conversation_id = %s AND m.seq > %s AND NOT (m.role = %s AND m.event <> %s) "
        "ORDER BY m.seq"
    )


def history_message_rows(*, conversation_id: Any, after_seq: int) -> list[Message]:
    """The conversation's messages after `after_seq`, in order, authors cached on them; event
    messages only when they are order-action answers (the model sees those)."""
    with statement_cursor() as cursor:
        cursor.execute(
            _messages_sql(connection.vendor),
            [
                Conversation._meta.pk.get_db_prep_value(conversation_id, connection),
                after_seq,
                MessageRole.EVENT.value,
                ORDER_ACTION_EVENT,
            ],
        )
        rows = cursor.fetchall()
    message_columns = _columns(Message, "m", MESSAGE_FIELDS)
    author_columns = _columns(get_user_model(), "a")
    split = len(message_columns.attnames)
    author_field = Message._meta.get_field("author")
    messages = []
    for row in rows:
        message = message_columns.instance(row, 0)
        author = author_columns.instance(row, split) if row[split] is not None else None
        author_field.set_cached_value(message, author)
        messages.append(message)
    return messages
