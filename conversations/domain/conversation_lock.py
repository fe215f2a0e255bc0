"""The conversation row's lock, taken by the write itself: one hand-written statement each.

Every message and every reply's final write locks the conversation row (concurrent writers,
other processes included, take sequence numbers and re-check the status in turn). Each of
these statements is an UPDATE that takes the lock, writes, and returns what the caller must
check under it (status) and whether the bot has an active webhook endpoint (so a message's
webhook costs no query when it has none). Building the equivalent ORM queries cost more CPU
than the database spent running them (docs/performance.md). Call them inside
`transaction.atomic()`; a caller that refuses the write after reading the status rolls back.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from conversations.domain.rows import statement_cursor
from conversations.models import Conversation, WebhookEndpoint


@dataclass(frozen=True, slots=True)
class Locked:
    """The conversation row as the locking statement left it."""

    status: str
    last_seq: int
    webhooks: bool  # the bot has an active webhook endpoint


def _returning() -> str:
    conversation = connection.ops.quote_name(Conversation._meta.db_table)
    endpoint = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
    return (
        f"RETURNING status, last_seq, EXISTS (SELECT 1 FROM {endpoint} "
        f"WHERE {endpoint}.bot_id = {conversation}.bot_id AND {endpoint}.active)"
    )


def _row(sql: str, params: list[Any]) -> Locked | None:
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return Locked(status=row[0], last_seq=row[1], webhooks=bool(row[2]))


def _pk(conversation_id: Any) -> Any:
    return Conversation._meta.pk.get_db_prep_value(conversation_id, connection)


def conversation_seq_take(*, conversation_id: Any, now: datetime) -> Locked | None:
    """Lock the conversation and take its next sequence number (`last_seq` of the result).

    None when there is no such conversation.
    """
    table = connection.ops.quote_name(Conversation._meta.db_table)
    moment = connection.ops.adapt_datetimefield_value(now)
    return _row(
        f"UPDATE {table} SET last_seq = last_seq + 1, last_message_at = %s, updated_at = %s "
        f"WHERE id = %s {_returning()}",
        [moment, moment, _pk(conversation_id)],
    )


def conversation_usage_take(
    *, conversation_id: Any, prompt_tokens: int, completion_tokens: int, cost: Decimal
) -> Locked | None:
    """Lock the conversation and add a model call's tokens and cost to its totals."""
    table = connection.ops.quote_name(Conversation._meta.db_table)
    cost_field = Conversation._meta.get_field("cost_usd")
    return _row(
        f"UPDATE {table} SET prompt_tokens = prompt_tokens + %s, "
        f"completion_tokens = completion_tokens + %s, cost_usd = cost_usd + %s "
        f"WHERE id = %s {_returning()}",
        [
            prompt_tokens,
            completion_tokens,
            cost_field.get_db_prep_save(cost, connection),
            _pk(conversation_id),
        ],
    )
