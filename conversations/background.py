"""Work that must not hold up the request that asked for it: one way to hand a task off.

With a broker the task is queued after commit. On the embedded default tasks run in-process
(CELERY_TASK_ALWAYS_EAGER), where `.delay()` would run the task inside the request; there it
runs after commit on this process's one background thread instead (one at a time, which also
keeps SQLite's writers apart).
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connections, transaction

log = logging.getLogger(__name__)

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="background")


def task_off_request(task: Any, *args: Any, in_process: bool | None = None) -> None:
    """Run `task(*args)` after commit: on a worker, or on the background thread when
    `in_process` (by default: when tasks run in-process). A failure is logged, never raised."""
    if in_process is None:
        in_process = settings.CELERY_TASK_ALWAYS_EAGER
    if in_process:
        transaction.on_commit(lambda: _executor.submit(_run, task, args))
    else:
        transaction.on_commit(lambda: task.delay(*args), robust=True)


def background_wait(*, timeout: float) -> None:
    """Wait until the work handed to the background thread so far is done (tests, shutdown)."""
    _executor.submit(lambda: None).result(timeout=timeout)


def _run(task: Any, args: tuple[Any, ...]) -> None:
    try:
        task(*args)  # the task's body, in this thread
    except Exception:  # logged, like a failed task; the request has long returned
        log.exception("Background task %s%r failed", getattr(task, "name", task), args)
    finally:
        connections.close_all()  # this thread's own connections
