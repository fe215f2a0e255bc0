"""Claiming a tool run and loading what it needs in one PostgreSQL statement.

A worker's run used to start with two round trips: the run with its conversation, customer,
bot and draft (one join), then the conditional UPDATE that claims it. Here the UPDATE is a
data-modifying CTE and the join reads from what it returned, so a run that was not queued
comes back as no row, and one that was is claimed and loaded at once. Each row is turned into
model instances with the fields' own converters, as the ORM would. The claim commits without
waiting for the disk (run_commits.py).
"""

import functools
from typing import Any

from django.db import connection
from django.db.models import Model

from conversations.models import Bot, Conversation, Customer, ReplyDraft, ToolRun, ToolRunStatus
from conversations.tools.run_commits import WITHOUT_WAITING_SQL

# The tables of one claimed run, in the order of the statement's columns, with their aliases.
_JOINED: tuple[tuple[str, type[Model]], ...] = (
    ("r", ToolRun),
    ("c", Conversation),
    ("cu", Customer),
    ("b", Bot),
    ("d", ReplyDraft),
)


@functools.cache
def _statement(*, without_waiting: bool) -> str:
    columns = ", ".join(
        f'{alias}."{field.column}"'
        for alias, model in _JOINED
        for field in model._meta.concrete_fields
    )
    # Inside a caller's transaction, that transaction's commit decides.
    waiting = f" AND {WITHOUT_WAITING_SQL}" if without_waiting else ""
    table = {alias: connection.ops.quote_name(model._meta.db_table) for alias, model in _JOINED}
    return (
        f"WITH claimed AS (UPDATE {table['r']} SET status = %s, started_at = %s, worker = %s "
        f"WHERE id = %s AND status = %s{waiting} RETURNING id) "
        f"SELECT {columns} FROM claimed JOIN {table['r']} r ON r.id = claimed.id "
        f"JOIN {table['c']} c ON c.id = r.conversation_id "
        f"JOIN {table['cu']} cu ON cu.id = c.customer_id "
        f"JOIN {table['b']} b ON b.id = c.bot_id "
        f"LEFT JOIN {table['d']} d ON d.id = r.draft_id"
    )


@functools.cache
def _converters(model: type[Model]) -> tuple[list[str], list[tuple[int, list[Any], Any]]]:
    """The attribute names of `model`'s concrete fields, and the converters of those that
    have any (by position), as the ORM's compiler finds them."""
    converters = []
    for index, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((index, found, column))
    return [field.attname for field in model._meta.concrete_fields], converters


def _instance(model: type[Model], values: list[Any]) -> Model:
    """An instance of `model` from its concrete fields' column values."""
    names, converters = _converters(model)
    for index, found, column in converters:
        for convert in found:
            values[index] = convert(values[index], column, connection)
    return model.from_db(connection.alias, names, values)


def claimed_run(*, run_id: int, started: Any, worker: str) -> ToolRun | None:
    """The run, moved from queued to running (`started`, `worker`), with its conversation,
    customer, bot and draft; None when it was not queued (or does not exist)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _statement(without_waiting=not connection.in_atomic_block),
            [ToolRunStatus.RUNNING, started, worker, run_id, ToolRunStatus.QUEUED],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    parts: dict[str, Model | None] = {}
    at = 0
    for alias, model in _JOINED:
        width = len(model._meta.concrete_fields)
        values = list(row[at : at + width])
        at += width
        parts[alias] = None if values[0] is None else _instance(model, values)
    run, conversation = parts["r"], parts["c"]
    conversation.customer, conversation.bot = parts["cu"], parts["b"]
    run.conversation, run.draft = conversation, parts["d"]
    # The join read the row as it was before the UPDATE.
    run.status, run.started_at, run.worker = ToolRunStatus.RUNNING, started, worker
    return run
