"""The Celery task that runs one tool call on a worker of the "tools" queue.

It takes the run's id, runs it once (conversations.tools.runs), then tells the waiting
process on its channel-layer channel; the result itself is read from the row.
"""

from asgiref.sync import async_to_sync
from celery import shared_task
from celery.signals import worker_init
from channels.layers import get_channel_layer

from conversations.tools.registry import tools_all
from conversations.tools.runs import tool_run_execute

TASK_NAME = "conversations.tools.tasks.tool_run"


@worker_init.connect
def tools_load(**kwargs) -> None:
    """Import every tool before the pool forks, so no first call pays for the imports."""
    tools_all()


@shared_task(name=TASK_NAME, bind=True, acks_late=True, ignore_result=True)
def tool_run(self, run_id: int, reply_channel: str = "") -> str:
    worker = self.request.hostname or "worker"
    status = tool_run_execute(run_id=run_id, worker=worker)
    if reply_channel:
        layer = get_channel_layer()
        async_to_sync(layer.send)(
            reply_channel, {"type": "tool.run.done", "run_id": run_id, "status": status}
        )
    return status
