"""Tool runs as rows: created before anything runs, executed once, finished or timed out once.

Status moves queued -> running -> succeeded/failed, or to timeout from queued/running, each
step a conditional UPDATE: whoever moves the row first wins, so a worker that finishes after
the engine gave up never overwrites "timeout", and a redelivered task never runs twice.
"""

import json
import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.models import Bot, Conversation, ToolRun, ToolRunStatus
from conversations.tools.calls import call_arguments
from conversations.tools.connectors import OrderSourceError
from conversations.tools.registry import (
    InvalidArguments,
    Tool,
    ToolContext,
    arguments_validate,
    tool_get,
)

logger = logging.getLogger(__name__)

IN_PROCESS_WORKER = f"in-process@{socket.gethostname()}"


@dataclass(frozen=True, slots=True)
class PreparedRun:
    run_id: int
    call_id: str
    tool: str
    status: str  # queued, or already final (invalid, or finished by an earlier attempt)


NOT_AVAILABLE = {
    "error": "tool_not_available",
    "message": "That tool is not available here. Answer without it or offer a human agent.",
}


def tool_available(*, tool: Tool | None, bot_id: int) -> bool:
    """Whether this bot offers the tool now: a tool left out of the list is refused as well."""
    if tool is None:
        return False
    return tool_offered(tool=tool, bot=Bot.objects.get(pk=bot_id))


def tool_offered(*, tool: Tool | None, bot: Bot) -> bool:
    """`tool_available` for a bot row already loaded."""
    return tool is not None and bool(tool.enabled(bot))


def tool_context_for(*, conversation_id: Any) -> ToolContext:
    conversation = Conversation.objects.select_related("customer").get(pk=conversation_id)
    return tool_context_of(conversation=conversation)


def tool_context_of(*, conversation: Conversation) -> ToolContext:
    """The context of a conversation loaded with its customer."""
    customer = conversation.customer
    # Verified only if this conversation presented the host's signature, and then only for the
    # value signed: an email claimed next to a signed external id opens nothing.
    verified = conversation.identity_verified
    return ToolContext(
        conversation_id=conversation.pk,
        bot_id=conversation.bot_id,
        customer_id=customer.pk,
        verified=verified,
        email=customer.verified_email if verified else "",
        external_id=customer.verified_external_id if verified else "",
    )


def result_capped(*, data: dict[str, Any], sources: list[dict[str, Any]]) -> dict[str, Any]:
    """The stored result; data over SUPPORTBOT_TOOL_RESULT_MAX_BYTES is cut, saying so."""
    limit = settings.SUPPORTBOT_TOOL_RESULT_MAX_BYTES
    text = json.dumps(data, ensure_ascii=False, default=str)
    if len(text.encode()) > limit:
        data = {
            "error": "result_too_large",
            "truncated": True,
            "partial": text.encode()[: limit - 200].decode(errors="ignore"),
        }
    return {"data": json.loads(json.dumps(data, default=str)), "sources": sources}


def tool_run_prepare(
    *, conversation_id: Any, message_id: int, call_id: str, name: str, arguments_json: str
) -> PreparedRun:
    """The run's row: queued when the arguments fit the tool's model, invalid otherwise.

    Idempotent on (message, call id): a round the engine retries reuses its rows.
    """
    existing = ToolRun.objects.filter(message_id=message_id, call_id=call_id).first()
    if existing is not None:
        return PreparedRun(existing.pk, call_id, existing.tool, existing.status)
    tool = tool_get(name)
    status, error = ToolRunStatus.QUEUED, ""
    refusal: dict[str, Any] | None = None
    arguments = call_arguments(arguments_json)
    bot_id = Conversation.objects.values_list("bot_id", flat=True).get(pk=conversation_id)
    if tool is None:
        status, error = ToolRunStatus.INVALID, f"no tool named {name!r}"
    elif not tool_available(tool=tool, bot_id=bot_id):
        # The model was never offered it (disabled, or not this bot's): refused, whatever
        # the arguments say.
        status, error, refusal = ToolRunStatus.INVALID, f"{name!r} is not available", NOT_AVAILABLE
    else:
        try:
            arguments = arguments_validate(tool=tool, arguments_json=arguments_json)
        except InvalidArguments as exc:
            status, error = ToolRunStatus.INVALID, str(exc)
    now = timezone.now()
    invalid = status == ToolRunStatus.INVALID
    try:
        with transaction.atomic():
            run = ToolRun.objects.create(
                conversation_id=conversation_id,
                message_id=message_id,
                call_id=call_id,
                tool=name[:60],
                arguments=arguments,
                status=status,
                error=error,
                result={
                    "data": refusal or {"error": "invalid_arguments", "message": error},
                    "sources": [],
                }
                if invalid
                else None,
                finished_at=now if invalid else None,
                duration_ms=0 if invalid else None,
            )
    except IntegrityError:
        run = ToolRun.objects.get(message_id=message_id, call_id=call_id)
    return PreparedRun(run.pk, call_id, run.tool, run.status)


@dataclass(frozen=True, slots=True)
class ExecutedRun:
    """A run after `tool_run_perform`: its status and, when this call is the one that finished
    it, what it stored (so the waiting side need not read the row back)."""

    status: str
    result: dict[str, Any] | None = None
    duration_ms: int | None = None


def tool_run_execute(*, run_id: int, worker: str = IN_PROCESS_WORKER) -> str:
    """Run a queued tool run once and record its result; returns the run's final status."""
    return tool_run_perform(run_id=run_id, worker=worker).status


def tool_run_perform(*, run_id: int, worker: str = IN_PROCESS_WORKER) -> ExecutedRun:
    """`tool_run_execute`, returning what was stored as well.

    One read (the run, its conversation, customer and bot), the claim, the tool, the finish:
    the claim and the finish are conditional UPDATEs, so a run the engine timed out meanwhile
    stays "timeout" and a redelivered task runs nothing.
    """
    started = timezone.now()  # picked up: the read and the claim count as the run's time
    run = ToolRun.objects.select_related("conversation__customer", "conversation__bot").get(
        pk=run_id
    )
    if run.status != ToolRunStatus.QUEUED:
        return ExecutedRun(run.status)  # running elsewhere, finished, or given up on already
    claimed = ToolRun.objects.filter(pk=run_id, status=ToolRunStatus.QUEUED).update(
        status=ToolRunStatus.RUNNING, started_at=started, worker=worker[:200]
    )
    if not claimed:
        return ExecutedRun(_status_of(run_id))
    tool = tool_get(run.tool)
    clock = time.monotonic()
    error = ""
    sources: list[dict[str, Any]] = []
    context = tool_context_of(conversation=run.conversation)
    if not tool_offered(tool=tool, bot=run.conversation.bot):
        # Disabled between the call and its run (or never offered): refused, not run.
        refused = {"data": dict(NOT_AVAILABLE), "sources": []}
        return _finish(
            run_id,
            status=ToolRunStatus.INVALID,
            result=refused,
            error=f"{run.tool!r} is not available",
            duration_ms=0,
        )
    try:
        result = tool.function(context=context, **run.arguments)
        data, sources = result.data, result.sources
        status = ToolRunStatus.FAILED if result.failed else ToolRunStatus.SUCCEEDED
    except OrderSourceError as exc:
        status, error = ToolRunStatus.FAILED, str(exc)
        data = {
            "error": "order_system_unavailable",
            "message": "The order system is not answering.",
        }
    except Exception as exc:
        logger.exception("tool %s failed (run %s)", run.tool, run_id)
        status, error = ToolRunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:1000]
        data = {"error": "tool_failed", "message": "The tool failed; apologise and offer a human."}
    return _finish(
        run_id,
        status=status,
        result=result_capped(data=data, sources=sources),
        error=error,
        duration_ms=int((time.monotonic() - clock) * 1000),
    )


def _status_of(run_id: int) -> str:
    return ToolRun.objects.values_list("status", flat=True).get(pk=run_id)


def _finish(
    run_id: int, *, status: str, result: dict[str, Any], error: str, duration_ms: int
) -> ExecutedRun:
    finished = ToolRun.objects.filter(pk=run_id, status=ToolRunStatus.RUNNING).update(
        status=status,
        result=result,
        error=error,
        finished_at=timezone.now(),
        duration_ms=duration_ms,
    )
    if not finished:  # the engine stopped waiting meanwhile: its "timeout" stands
        return ExecutedRun(_status_of(run_id))
    return ExecutedRun(status, result=result, duration_ms=duration_ms)


def tool_run_time_out(*, run_id: int, timeout: float) -> None:
    """The engine stops waiting: a run still queued or running becomes "timeout"."""
    ToolRun.objects.filter(
        pk=run_id, status__in=[ToolRunStatus.QUEUED, ToolRunStatus.RUNNING]
    ).update(
        status=ToolRunStatus.TIMEOUT,
        error=f"no result within {timeout:g} s",
        result={
            "data": {
                "error": "timeout",
                "message": "The lookup took too long. Tell the customer and offer to try "
                "again later or to connect them with a person.",
            },
            "sources": [],
        },
        finished_at=timezone.now(),
        duration_ms=int(timeout * 1000),
    )
