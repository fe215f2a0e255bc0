"""Celery beat's schedule, run in-process when tasks run eagerly (the embedded default).

`make run` starts no broker, worker or beat: without this, hand-off timeouts, insights and
retention would never run there. A daemon thread calls each scheduled task on time, eagerly,
one after another; with a real broker, celery beat does this and the thread never starts.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

# The first run waits a little: the server is still starting and the demo was just seeded.
FIRST_RUN_DELAY = 5.0


class PeriodicTasks(threading.Thread):
    """Runs CELERY_BEAT_SCHEDULE's tasks (fixed intervals in seconds) until stopped."""

    def __init__(
        self,
        *,
        schedule: dict[str, dict[str, Any]],
        first_delay: float = FIRST_RUN_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="periodic-tasks", daemon=True)
        self.schedule = schedule
        self.clock = clock
        self.stopped = threading.Event()
        start = clock() + first_delay
        self.due = {name: start for name in schedule}
        self.runs: dict[str, int] = dict.fromkeys(schedule, 0)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopped.set()
        self.join(timeout)

    def run(self) -> None:
        from supportbot.celery import app

        app.loader.import_default_modules()  # CELERY_IMPORTS and the autodiscovered tasks
        while not self.stopped.is_set():
            now = self.clock()
            for name, entry in self.schedule.items():
                if self.due[name] <= now and not self.stopped.is_set():
                    self._run_one(name, entry)
                    self.due[name] = self.clock() + float(entry["schedule"])
            # An empty schedule idles until stopped.
            next_due = min(self.due.values(), default=self.clock() + 60.0)
            self.stopped.wait(max(0.05, next_due - self.clock()))

    def _run_one(self, name: str, entry: dict[str, Any]) -> None:
        from supportbot.celery import app

        close_old_connections()
        try:
            app.tasks[entry["task"]].apply(args=entry.get("args", ()), throw=True)
        except Exception:
            # One failing task must not stop the others, nor the next run of itself.
            logger.exception("periodic task %s failed", name)
        finally:
            self.runs[name] += 1
            close_old_connections()


def periodic_tasks_start() -> PeriodicTasks | None:
    """Start the in-process schedule if this server should run it (eager tasks, not disabled)."""
    if not settings.SUPPORTBOT_PERIODIC_TASKS_IN_PROCESS:
        return None
    schedule = {
        name: entry
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        if isinstance(entry.get("schedule"), int | float)
    }
    # A line for every run, every 30 s, would drown the server's console; failures still show.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    runner = PeriodicTasks(schedule=schedule)
    runner.start()
    logger.info("running %d periodic tasks in-process: %s", len(schedule), ", ".join(schedule))
    return runner
