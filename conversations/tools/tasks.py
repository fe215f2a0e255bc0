"""The Celery task that runs one tool call on a worker of the "tools" queue.

It takes the run's id, runs it once (conversations.tools.runs), then tells the waiting
process on its channel-layer channel: the status and, when this task stored the result, that
result as well, so the waiting side need not read the row back.
"""

import asyncio
import os
import threading
from typing import Any

from celery import shared_task
from celery.signals import worker_init
from channels.layers import get_channel_layer

from conversations.tools.registry import tools_all
from conversations.tools.runs import tool_run_perform
from conversations.tools.trace import tool_trace

TASK_NAME = "conversations.tools.tasks.tool_run"
PUBLISH_TIMEOUT = 5.0


@worker_init.connect
def tools_load(**kwargs) -> None:
    """Import every tool before the pool forks, so no first call pays for the imports."""
    tools_all()


class _Publisher:
    """One event loop per worker process, in a thread of its own, for channel-layer sends.

    `async_to_sync` would make a loop per task, and the layer a Redis connection per loop: a
    connect on every tool run. This loop, and so the layer's connection, lasts as long as the
    process; a time limit that interrupts the task leaves it running.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="tool-publisher", daemon=True).start()

    def send(self, channel: str, message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        done = asyncio.run_coroutine_threadsafe(layer.send(channel, message), self.loop)
        done.result(PUBLISH_TIMEOUT)


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def _publisher_here() -> _Publisher:
    """This process's publisher (a forked child makes its own: threads don't survive a fork)."""
    global _publisher
    with _publisher_lock:
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _Publisher()
        return _publisher


@shared_task(name=TASK_NAME, bind=True, acks_late=True, ignore_result=True)
def tool_run(self, run_id: int, reply_channel: str = "") -> str:
    tool_trace(f"run:{run_id}", "received")
    worker = self.request.hostname or "worker"
    executed = tool_run_perform(run_id=run_id, worker=worker)
    tool_trace(f"run:{run_id}", "performed")
    if reply_channel:
        message: dict[str, Any] = {
            "type": "tool.run.done",
            "run_id": run_id,
            "status": executed.status,
        }
        if executed.result is not None:
            message.update(result=executed.result, duration_ms=executed.duration_ms)
        _publisher_here().send(reply_channel, message)
        tool_trace(f"run:{run_id}", "reported")
    return executed.status
