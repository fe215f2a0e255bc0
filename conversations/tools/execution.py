"""Running a round of tool calls concurrently, each within its time limit, without blocking.

On the embedded default (CELERY_TASK_ALWAYS_EAGER) each run executes in a thread of this
process. Otherwise each becomes a Celery task on the "tools" queue; the worker announces the
end on this process's channel-layer channel (one long-lived reader per process and event
loop) with what its own conditional UPDATE stored; when it did not finish the run itself (a
redelivery, a run already timed out) the result is read from the ToolRun row. Either way the wait is
`asyncio.wait_for`, so a hung tool costs its time limit and the chat goes on.
"""

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction

from conversations.database import database_call
from conversations.models import ToolRun, ToolRunStatus
from conversations.tools.calls import ToolOutcome
from conversations.tools.registry import tool_get, tool_timeout
from conversations.tools.runs import (
    ExecutedRun,
    PreparedRun,
    tool_run_perform,
    tool_run_prepare,
    tool_run_time_out,
)
from conversations.tools.trace import tool_trace

FINAL = {
    ToolRunStatus.SUCCEEDED,
    ToolRunStatus.FAILED,
    ToolRunStatus.INVALID,
    ToolRunStatus.TIMEOUT,
}
STATUS_LABELS = {
    ToolRunStatus.TIMEOUT: "That took too long",
    ToolRunStatus.FAILED: "Couldn't finish that",
    ToolRunStatus.INVALID: "Couldn't run that",
}


def _timeout_for(name: str) -> float:
    tool = tool_get(name)
    return tool_timeout(tool) if tool else settings.SUPPORTBOT_TOOL_TIMEOUT


def _outcome(run: ToolRun) -> ToolOutcome:
    return _outcome_of(
        call_id=run.call_id,
        tool_name=run.tool,
        status=run.status,
        stored=run.result,
        duration_ms=run.duration_ms,
    )


def _outcome_of(
    *, call_id: str, tool_name: str, status: str, stored: Any, duration_ms: int | None
) -> ToolOutcome:
    stored = stored or {}
    data = stored.get("data") or {}
    if status not in FINAL:
        data = {"error": "no_result"}
    tool = tool_get(tool_name)
    if status == ToolRunStatus.SUCCEEDED and tool is not None:
        label = tool.done_label
    else:
        label = STATUS_LABELS.get(status, "Couldn't finish that")
    return ToolOutcome(
        call_id=call_id,
        name=tool_name,
        status=status,
        content=json.dumps(data, ensure_ascii=False),
        label=label,
        data=data,
        sources=list(stored.get("sources") or []),
        duration_ms=duration_ms,
    )


def _prepare(
    conversation_id: Any, message_id: int | None, draft_id: int | None, calls: list[Any]
) -> list[PreparedRun]:
    return [
        tool_run_prepare(
            conversation_id=conversation_id,
            message_id=message_id,
            draft_id=draft_id,
            call_id=call.id,
            name=call.name,
            arguments_json=call.arguments,
        )
        for call in calls
    ]


def _outcome_load(run_id: int) -> ToolOutcome:
    return _outcome(ToolRun.objects.get(pk=run_id))


def _time_out(run_id: int, timeout: float) -> Any:
    tool_run_time_out(run_id=run_id, timeout=timeout)
    return _outcome(ToolRun.objects.get(pk=run_id))


def _execute_in_thread(*, run_id: int) -> ExecutedRun:
    try:
        return tool_run_perform(run_id=run_id)
    finally:
        # A pool thread may not run Django code again for a long time: don't keep its
        # connection open meanwhile.
        connection.close()


async def _run_in_process(run: PreparedRun, timeout: float) -> Any:
    # A hung tool must not hold the one thread all ORM calls share (SQLite).
    execute = database_call(_execute_in_thread, may_hang=True)
    try:
        executed = await asyncio.wait_for(execute(run_id=run.run_id), timeout)
    except TimeoutError:
        return await database_call(_time_out)(run.run_id, timeout)
    if executed.result is not None:
        return _outcome_of(
            call_id=run.call_id,
            tool_name=run.tool,
            status=executed.status,
            stored=executed.result,
            duration_ms=executed.duration_ms,
        )
    return await database_call(_outcome_load)(run.run_id)


class _Mailbox:
    """One channel per process and event loop that workers report finished runs to.

    One long-lived reader per process instead of one per round: cancelling a channel-layer
    receive mid-wait can hold up the next one for seconds. A report may arrive before its run
    is awaited (the task is queued before the waiting starts): it is kept until then.
    """

    EARLY_KEPT = 256

    def __init__(self, layer: Any, channel: str) -> None:
        self.layer = layer
        self.channel = channel
        self.waiting: dict[int, asyncio.Future] = {}
        self.early: dict[int, dict[str, Any]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            run_id = message.get("run_id")
            tool_trace(f"run:{run_id}", "woken")
            future = self.waiting.pop(run_id, None)
            if future is None:
                # Not awaited yet, or no more (timed out): kept a while, the oldest dropped.
                self.early[run_id] = message
                while len(self.early) > self.EARLY_KEPT:
                    del self.early[next(iter(self.early))]
            elif not future.done():
                future.set_result(message)

    def expect(self, run_id: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        early = self.early.pop(run_id, None)
        if early is not None:
            future.set_result(early)
        else:
            self.waiting[run_id] = future
        return future

    def forget(self, run_id: int) -> None:
        self.waiting.pop(run_id, None)


_mailboxes: dict[asyncio.AbstractEventLoop, _Mailbox] = {}


async def _mailbox() -> _Mailbox:
    loop = asyncio.get_running_loop()
    for other in [other for other in _mailboxes if other.is_closed()]:
        del _mailboxes[other]
    mailbox = _mailboxes.get(loop)
    if mailbox is None or mailbox.reader.done():
        layer = get_channel_layer()
        mailbox = _Mailbox(layer, await layer.new_channel("tools."))
        _mailboxes[loop] = mailbox
    return mailbox


def _prepare_and_queue(
    conversation_id: Any,
    message_id: int | None,
    draft_id: int | None,
    calls: list[Any],
    reply_channel: str,
) -> list[PreparedRun]:
    """`_prepare`, then each queued run's task, sent from the same thread once its row is
    committed: publishing to the broker is network I/O, kept off the event loop, and one hop
    to a thread instead of two."""
    from conversations.tools.tasks import tool_run

    prepared = _prepare(conversation_id, message_id, draft_id, calls)
    for run in prepared:
        tool_trace(f"run:{run.run_id}", "prepared")
        if run.status == ToolRunStatus.QUEUED:
            timeout = _timeout_for(run.tool)
            transaction.on_commit(
                functools.partial(
                    _publish,
                    tool_run,
                    run.run_id,
                    args=[run.run_id, reply_channel],
                    queue="tools",
                    expires=timeout + 1,
                    soft_time_limit=timeout + 2,
                    time_limit=timeout + 5,
                )
            )
    return prepared


def _publish(task: Any, run_id: int, **options: Any) -> None:
    task.apply_async(**options)
    tool_trace(f"run:{run_id}", "published")


async def _run_on_worker(run: PreparedRun, timeout: float, mailbox: _Mailbox) -> ToolOutcome:
    done = mailbox.expect(run.run_id)
    try:
        message = await asyncio.wait_for(done, timeout)
    except TimeoutError:
        return await database_call(_time_out)(run.run_id, timeout)
    finally:
        mailbox.forget(run.run_id)
    stored = message.get("result")
    if message.get("status") in FINAL and isinstance(stored, dict):
        # What the worker's own conditional UPDATE wrote, so the row says the same: no read
        # back. A worker that lost the race to a timeout sends the status alone.
        return _outcome_of(
            call_id=run.call_id,
            tool_name=run.tool,
            status=message["status"],
            stored=stored,
            duration_ms=message.get("duration_ms"),
        )
    return await database_call(_outcome_load)(run.run_id)


async def tool_runs_await(
    *,
    conversation_id: Any,
    calls: list[Any],
    message_id: int | None = None,
    draft_id: int | None = None,
) -> AsyncIterator[Any]:
    """Record, validate and run the calls concurrently; yield outcomes as they finish.

    The runs belong to the assistant message `message_id` or to the copilot draft `draft_id`.
    """
    for call in calls:
        tool_trace(f"call:{call.id}", "await")
    mailbox = None
    if settings.CELERY_TASK_ALWAYS_EAGER:
        prepared = await database_call(_prepare)(conversation_id, message_id, draft_id, calls)
    else:
        mailbox = await _mailbox()
        prepared = await database_call(_prepare_and_queue)(
            conversation_id, message_id, draft_id, calls, mailbox.channel
        )
    pending: list[asyncio.Task] = []
    try:
        to_run = []
        for run in prepared:
            if run.status == ToolRunStatus.QUEUED:
                to_run.append(run)
            else:
                yield await database_call(_outcome_load)(run.run_id)
        if not to_run:
            return
        if mailbox is None:
            pending = [
                asyncio.create_task(_run_in_process(run, _timeout_for(run.tool))) for run in to_run
            ]
        else:
            pending = [
                asyncio.create_task(_run_on_worker(run, _timeout_for(run.tool), mailbox))
                for run in to_run
            ]
        for finished in asyncio.as_completed(pending):
            outcome = await finished
            tool_trace(f"call:{outcome.call_id}", "outcome")
            yield outcome
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
