"""Tool runs as rows: created before anything runs, executed once, finished or timed out once.

A run belongs to the assistant message that made the call, or to a copilot draft. A draft's
run may only be a read-only tool it was offered: refused when recorded and again when it
executes, whatever the model asked.

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
from django.db import IntegrityError, InterfaceError, OperationalError, connection
from django.utils import timezone

from conversations.models import (
    Bot,
    Conversation,
    ConversationStatus,
    ReplyDraft,
    ToolRun,
    ToolRunStatus,
)
from conversations.tools.calls import call_arguments
from conversations.tools.claimed_runs import claimed_run
from conversations.tools.connectors import OrderSourceError
from conversations.tools.registry import (
    InvalidArguments,
    Tool,
    ToolContext,
    arguments_validate,
    tool_get,
)
from conversations.tools.run_commits import inserting_without_waiting, without_waiting_filter
from conversations.tools.trace import tool_trace

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

NOT_FOR_DRAFTS = {
    "error": "tool_not_available",
    "message": "A draft may only look things up. Write the draft without this tool.",
}

NOT_THE_BOTS_TURN = {
    "error": "tool_not_available",
    "message": "A person is handling this conversation now. Do not act on it.",
}


def tool_available(*, tool: Tool | None, bot_id: int | None = None, bot: Bot | None = None) -> bool:
    """Whether this bot offers the tool now: a tool left out of the list is refused as well.

    Pass the bot when it is loaded already, else its id.
    """
    if tool is None:
        return False
    return bool(tool.enabled(bot if bot is not None else Bot.objects.get(pk=bot_id)))


def tool_refusal(
    *,
    tool: Tool | None,
    name: str,
    draft_tools: list[str] | None,
    bot_id: int | None = None,
    bot: Bot | None = None,
    conversation_status: str = ConversationStatus.BOT,
) -> tuple[str, dict[str, Any]] | None:
    """Why this call may not run here (the error, the result the model reads), or None.

    `draft_tools` is None for a reply's run, else the tools the draft was offered.
    `conversation_status` is the conversation's status now: a reply's run does nothing once
    a person owns it or it is closed, and while it waits for one only looks things up.
    """
    if not tool_available(tool=tool, bot_id=bot_id, bot=bot):
        # The model was never offered it (disabled, or not this bot's).
        return f"{name!r} is not available", NOT_AVAILABLE
    if draft_tools is not None and not (tool.read_only and name in draft_tools):
        return f"{name!r} may not run for a draft", NOT_FOR_DRAFTS
    if draft_tools is None and not _bot_may_act(tool, conversation_status):
        # Called while the bot owned it, run after an agent claimed it or someone closed it
        # (a queued run outlives the reply's owner checks).
        return f"{name!r} may not run while the conversation is {conversation_status}", dict(
            NOT_THE_BOTS_TURN
        )
    return None


def _bot_may_act(tool: Tool, status: str) -> bool:
    if status == ConversationStatus.BOT:
        return True
    # After a hand-off the bot may finish its answer with what it can look up.
    return status == ConversationStatus.WAITING and tool.read_only


def _run_owner(message_id: int | None, draft_id: int | None) -> dict[str, int]:
    if (message_id is None) == (draft_id is None):
        raise ValueError("a tool run belongs to a message or to a draft")
    return {"message_id": message_id} if message_id is not None else {"draft_id": draft_id}


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
    *,
    conversation_id: Any,
    call_id: str,
    name: str,
    arguments_json: str,
    message_id: int | None = None,
    draft_id: int | None = None,
) -> PreparedRun:
    """The run's row: queued when the arguments fit the tool's model, invalid otherwise.

    Idempotent on (message or draft, call id): a round the engine retries meets the unique
    constraint on insert and reuses its rows (no lookup first: a retry is rare, a round not).
    """
    owner = _run_owner(message_id, draft_id)
    tool = tool_get(name)
    status, error = ToolRunStatus.QUEUED, ""
    refusal: dict[str, Any] | None = None
    arguments = call_arguments(arguments_json)
    draft_tools = (
        ReplyDraft.objects.values_list("tools", flat=True).get(pk=draft_id)
        if draft_id is not None
        else None
    )
    refused = None
    if tool is not None:
        conversation = Conversation.objects.select_related("bot").get(pk=conversation_id)
        refused = tool_refusal(
            tool=tool,
            name=name,
            bot=conversation.bot,
            draft_tools=draft_tools,
            conversation_status=conversation.status,
        )
    if tool is None:
        status, error = ToolRunStatus.INVALID, f"no tool named {name!r}"
    elif refused is not None:
        # Refused whatever the arguments say.
        status, (error, refusal) = ToolRunStatus.INVALID, refused
    else:
        try:
            arguments = arguments_validate(tool=tool, arguments_json=arguments_json)
        except InvalidArguments as exc:
            status, error = ToolRunStatus.INVALID, str(exc)
    now = timezone.now()
    invalid = status == ToolRunStatus.INVALID
    try:
        with inserting_without_waiting():
            run = ToolRun.objects.create(
                conversation_id=conversation_id,
                **owner,
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
        run = ToolRun.objects.get(**owner, call_id=call_id)
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

    The claim (with the run, its conversation, customer, bot and draft), the tool, the finish:
    the claim and the finish are conditional UPDATEs, so a run the engine timed out meanwhile
    stays "timeout" and a redelivered task runs nothing.
    """
    started = timezone.now()  # picked up: the claim counts as the run's time
    run = _claim(run_id=run_id, started=started, worker=worker[:200])
    tool_trace(f"run:{run_id}", "claimed")
    if run is None:  # running elsewhere, finished, or given up on already
        return ExecutedRun(_status_of(run_id))
    tool = tool_get(run.tool)
    clock = time.monotonic()
    error = ""
    sources: list[dict[str, Any]] = []
    context = tool_context_of(conversation=run.conversation)
    refused = tool_refusal(
        tool=tool,
        name=run.tool,
        bot=run.conversation.bot,
        draft_tools=run.draft.tools if run.draft is not None else None,
        conversation_status=run.conversation.status,
    )
    if refused is not None:
        # Disabled between the call and its run, never offered, or a draft's write: refused
        # here too, so a row recorded any other way still never runs.
        error, refusal = refused
        return _finish(
            run_id,
            status=ToolRunStatus.INVALID,
            result={"data": dict(refusal), "sources": []},
            error=error,
            duration_ms=0,
        )
    tool_trace(f"run:{run_id}", "tool_start")
    try:
        result = tool.function(context=context, **run.arguments)
        tool_trace(f"run:{run_id}", "tool_end")
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


def _claim(*, run_id: int, started: Any, worker: str) -> ToolRun | None:
    """The run, moved from queued to running by this call, loaded with its conversation,
    customer, bot and draft; None when it was not queued.

    On PostgreSQL one statement does both (claimed_runs.py); elsewhere a read, then the claim.
    """
    if connection.vendor == "postgresql":
        try:
            return claimed_run(run_id=run_id, started=started, worker=worker)
        except (InterfaceError, OperationalError):
            if connection.in_atomic_block:
                raise
            # A kept connection that died while the worker was idle (PostgreSQL restarted):
            # the worker skips the per-task health check, so this claim tries once more on a
            # new one. The claim is conditional: trying it twice never runs a tool twice.
            connection.close()
            return claimed_run(run_id=run_id, started=started, worker=worker)
    run = ToolRun.objects.select_related(
        "conversation__customer", "conversation__bot", "draft"
    ).get(pk=run_id)
    if run.status != ToolRunStatus.QUEUED:
        return None
    claimed = ToolRun.objects.filter(pk=run_id, status=ToolRunStatus.QUEUED).update(
        status=ToolRunStatus.RUNNING, started_at=started, worker=worker
    )
    return run if claimed else None


def _status_of(run_id: int) -> str:
    return ToolRun.objects.values_list("status", flat=True).get(pk=run_id)


def _finish(
    run_id: int, *, status: str, result: dict[str, Any], error: str, duration_ms: int
) -> ExecutedRun:
    finished = ToolRun.objects.filter(
        without_waiting_filter(), pk=run_id, status=ToolRunStatus.RUNNING
    ).update(
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
