"""The one bridge from async code to the ORM (and to other blocking Django calls).

`database_call(func)` is `func` awaitable from async code: channels' database_sync_to_async,
which closes stale connections before and after, run on the executor that suits the database.

- PostgreSQL: the DB_THREADS threads of `database_executor()`, side by side, one connection
  each. The thread-sensitive default would queue every reply's queries, every customer message
  and every tool round on the one shared thread.
- SQLite: the one thread-sensitive thread. SQLite takes one writer at a time anyway, and that
  thread shares the caller's connection (a test's transaction included).
- `may_hang=True` (a tool's own code, a health probe): always the pool, SQLite too, so a
  call that hangs never holds the thread every other ORM call waits on.

`blocking_call(func)` is the same pool for blocking I/O that never touches the ORM (the cache,
the Celery broker): no connection handling, so it runs where no database is configured.

Async ORM methods (`aget`, `afirst`...) are fine for single reads in a request; anything that
needs a transaction or several queries is a sync function called through here.
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def database_executor() -> ThreadPoolExecutor:
    """The threads database calls run on: DB_THREADS of them, one pool per process.

    The event loop's default executor has min(32, CPUs + 4) threads: six on two cores. Every
    call there mostly waits on the database, so a burst of replies queued behind a handful of
    threads while the CPU sat idle.
    """
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(
                    max_workers=settings.DB_THREADS, thread_name_prefix="database"
                )
    return _executor


def database_call(func: Callable[..., Any], *, may_hang: bool = False) -> Callable[..., Any]:
    """`func` awaitable from async code, on the executor the module docstring describes."""
    if connections["default"].vendor == "sqlite" and not may_hang:
        return database_sync_to_async(func, thread_sensitive=True)
    return database_sync_to_async(func, thread_sensitive=False, executor=database_executor())


def blocking_call(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func`, blocking I/O outside the ORM (cache, broker), awaitable on the pool."""
    return sync_to_async(func, thread_sensitive=False, executor=database_executor())
