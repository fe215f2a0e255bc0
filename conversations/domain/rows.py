"""Model instances to and from hand-written SQL, for the few statements every message runs.

Building a query with the ORM costs more CPU than the database spends running these small
statements (docs/performance.md). Here a statement's SQL is built once per process from the
model's own fields, and values cross with Django's own converters (`from_db`, `pre_save`,
`get_db_prep_save`), so a field added to a model comes along without touching the callers.
Signals are not sent: use these only for models without save receivers.

On PostgreSQL with kept connections (DB_POOL_MAX_SIZE or DB_CONN_MAX_AGE), `statement_cursor()`
runs them as server-side prepared statements: each connection parses and plans a statement once,
then sends only its values (Django binds values into the SQL text on the client by default, so
PostgreSQL parsed and planned every statement of every message again).
"""

import functools
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model

# psycopg prepares a statement by itself after this many runs on a connection: never, here.
NEVER_BY_COUNT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Columns:
    """A model's columns in a hand-written SELECT, and how to turn them back into an instance."""

    model: type[Model]
    sql: str
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, tuple, Any], ...]  # (position, converters, expression)

    def instance(self, row: tuple | list, start: int = 0) -> Model:
        """The instance from `row[start:]` (fields left out of the SELECT are deferred)."""
        db = _db()
        values = list(row[start : start + len(self.attnames)])
        for position, converters, expression in self.converters:
            value = values[position]
            for convert in converters:
                value = convert(value, expression, db)
            values[position] = value
        return self.model.from_db(db.alias, self.attnames, values)


def statement_cursor():
    """A cursor for this module's statements: prepared on a kept PostgreSQL connection.

    A cursor like `connection.cursor()` otherwise (SQLite; a connection closed after each call,
    where preparing would cost a round trip more than it saves). Django's wrapper stays around
    it, so query logging and counting see these statements as before.
    """
    db = _db()
    if db.vendor != "postgresql" or not _connections_kept(db):
        return db.cursor()
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        if db.connection.prepare_threshold is None:
            # Django turns psycopg's preparing off (None); our cursors ask for it on each
            # statement, the others (client-side binding) never prepare, whatever the threshold.
            db.connection.prepare_threshold = NEVER_BY_COUNT
        cursor = _prepared_cursor_class()(db.connection)
        # As Django's create_cursor: timestamps in the connection's time zone.
        from django.db.backends.postgresql.base import TIMESTAMPTZ_OID
        from django.db.backends.postgresql.psycopg_any import register_tzloader
        from psycopg.pq import Format

        loader = db.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        if db.timezone != loader.timezone:
            register_tzloader(db.timezone, cursor)
        return db._prepare_cursor(cursor)


def _connections_kept(db) -> bool:
    return bool(db.settings_dict["OPTIONS"].get("pool")) or db.settings_dict["CONN_MAX_AGE"] != 0


@functools.cache
def _prepared_cursor_class() -> type:
    """Django's server-side-binding cursor, every statement prepared (cached per connection)."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparedCursor


def _db():
    """This thread's connection itself: `django.db.connection` is a proxy that looks it up on
    every attribute, a cost per field here."""
    return connections[DEFAULT_DB_ALIAS]


def columns(model: type[Model], alias: str, names: tuple[str, ...] | None = None) -> Columns:
    """`model`'s columns (or those named) as `alias`.column, in the fields' order."""
    return _columns(model, alias, names, connection.vendor)


@functools.cache
def _columns(model: type[Model], alias: str, names: tuple[str, ...] | None, vendor: str) -> Columns:
    fields = [
        field
        for field in model._meta.concrete_fields
        if names is None or field.attname in names or field.name in names
    ]
    converters = []
    for position, field in enumerate(fields):
        column = field.get_col(alias)
        found = tuple(connection.ops.get_db_converters(column)) + tuple(
            column.get_db_converters(connection)
        )
        if found:
            converters.append((position, found, column))
    quote = connection.ops.quote_name
    return Columns(
        model=model,
        sql=", ".join(f"{alias}.{quote(field.column)}" for field in fields),
        attnames=tuple(field.attname for field in fields),
        converters=tuple(converters),
    )


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def row_insert(instance: Model) -> None:
    """INSERT a new instance (auto primary key), as `instance.save()` would, without signals."""
    model = type(instance)
    db = _db()
    sql, fields = _insert(model, db.vendor)
    if sql is None:
        instance.save(force_insert=True)
        return
    values = [f.get_db_prep_save(f.pre_save(instance, True), db) for f in fields]
    with statement_cursor() as cursor:
        cursor.execute(sql, values)
        pk = cursor.fetchone()[0]
    instance.pk = model._meta.pk.to_python(pk)
    instance._state.adding = False
    instance._state.db = db.alias


@functools.cache
def _insert(model: type[Model], vendor: str) -> tuple[str | None, tuple]:
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if f is not meta.auto_field)
    if meta.auto_field is None or not connection.features.can_return_columns_from_insert:
        return None, fields
    quote = connection.ops.quote_name
    return (
        f"INSERT INTO {table(model)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(meta.pk.column)}",
        fields,
    )


def row_update(model: type[Model], pk: Any, **values: Any) -> int:
    """UPDATE one row's fields by primary key, as `filter(pk=pk).update(...)` would: how many
    rows matched (0 or 1). Plain values only, no expressions."""
    db = _db()
    sql, fields = _update(model, tuple(values), db.vendor)
    params = [field.get_db_prep_save(values[field.name], db) for field in fields]
    params.append(model._meta.pk.get_db_prep_value(pk, db))
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@functools.cache
def _update(model: type[Model], names: tuple[str, ...], vendor: str) -> tuple[str, tuple]:
    meta = model._meta
    fields = tuple(meta.get_field(name) for name in names)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    return f"UPDATE {table(model)} SET {assignments} WHERE {quote(meta.pk.column)} = %s", fields
