"""Committing a tool run's bookkeeping without waiting for the disk.

Every committing write on PostgreSQL waits for its WAL to be flushed (fdatasync): 1.5 to 4 ms
a commit on the 2-core machine, against 0.05 to 0.1 ms without the wait, and a tool run made
three of them on its round trip (the row, the claim, the result). These writes commit with
`synchronous_commit` off for their own transaction only: the row is as consistent as ever,
and only a crash of PostgreSQL itself in the next fraction of a second could lose them. WAL is
flushed in order, so the next ordinary commit (the tool message the reply stores right after
the result, any message) makes them durable too. The tools' own writes (an order action, a
handoff) keep the ordinary commit.
"""

import contextlib
from collections.abc import Iterator

from django.db import connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

# For a data-modifying statement that commits by itself: evaluated in it, it applies to its
# transaction alone (is_local), whose commit reads it.
WITHOUT_WAITING_SQL = "set_config('synchronous_commit', 'off', true) IS NOT NULL"


def without_waiting_filter() -> Q:
    """A filter for an UPDATE that commits by itself, making it not wait for the disk on
    PostgreSQL outside a transaction; no condition elsewhere (inside a caller's transaction
    its commit decides)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return Q()
    return Q(RawSQL(WITHOUT_WAITING_SQL, [], output_field=BooleanField()))


@contextlib.contextmanager
def inserting_without_waiting() -> Iterator[None]:
    """Around one INSERT that may meet a unique constraint: a savepoint inside a caller's
    transaction (which survives the error and decides the commit); outside one on PostgreSQL,
    a transaction of its own that does not wait for the disk."""
    if connection.in_atomic_block or connection.vendor != "postgresql":
        with transaction.atomic():
            yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
