"""The agent's copilot: a reply draft from the bot's own engine, for the agent to edit and send.

The draft uses the bot's backend, prompt, history and tools, with the tools' context built
from the conversation's customer (conversations.tools.runs.tool_context_for), so it can see
exactly what the bot could. It is never stored as a message and never reaches the customer:
the events go to the agent's socket only, and the agent sends the text as their own reply.
Only read-only tools run for a draft: a draft must not prove orders, hand off or change
anything in the store.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from conversations import tools as tool_registry
from conversations.database import database_call
from conversations.domain.budget import bot_budget_exceeded, conversation_usage_add
from conversations.domain.events import DraftDelta, DraftDone, DraftTool, Error, Event
from conversations.engine.backends import (
    Finish,
    ModelRequest,
    RefusalDelta,
    TextDelta,
    Usage,
    backend_for,
)
from conversations.engine.context import History, context_messages, history_load
from conversations.engine.pricing import cost_usd
from conversations.models import ToolRunStatus
from conversations.tools import ToolCall, ToolOutcome
from conversations.tools.connectors import OrderSourceError
from conversations.tools.registry import (
    InvalidArguments,
    arguments_validate,
    tool_get,
    tool_timeout,
)
from conversations.tools.runs import result_capped, tool_context_for

logger = logging.getLogger(__name__)

# Read-only: looking things up is all a draft may do.
COPILOT_TOOLS = frozenset({"get_order", "list_recent_orders", "search_faq", "search_knowledge"})

DRAFT_INSTRUCTION = (
    "A human support agent, {agent}, has taken over this conversation. Draft the next reply "
    "for {agent} to review and send as their own message: write only the message to the "
    "customer, in the customer's language, with the facts the tools give you."
)


@dataclass(slots=True)
class _Draft:
    history: History
    tools: list[dict[str, Any]]
    over_budget: bool


def _draft_prepare(conversation_id: Any) -> _Draft:
    history = history_load(conversation_id=conversation_id)
    tools = [
        t
        for t in tool_registry.tool_definitions(bot=history.bot)
        if t["function"]["name"] in COPILOT_TOOLS
    ]
    over = settings.SUPPORTBOT_ENGINE == "openai" and bot_budget_exceeded(bot=history.bot)
    return _Draft(history=history, tools=tools, over_budget=over)


def _tool_arguments(call: ToolCall) -> dict[str, Any]:
    """The call's arguments if it is a draft's tool and they fit its schema."""
    tool = tool_get(call.name)
    if tool is None or call.name not in COPILOT_TOOLS:
        raise InvalidArguments(f"no tool named {call.name!r} for drafts")
    return arguments_validate(tool=tool, arguments_json=call.arguments)


def _tool_run(conversation_id: Any, call: ToolCall) -> ToolOutcome:
    """One read-only call, run here and now (a draft has no message row to hang a run on)."""
    from django.db import connection

    tool = tool_get(call.name)
    sources: list[dict[str, Any]] = []
    try:
        arguments = _tool_arguments(call)
        result = tool.function(
            context=tool_context_for(conversation_id=conversation_id), **arguments
        )
        data, sources, status = result.data, result.sources, ToolRunStatus.SUCCEEDED
    except InvalidArguments as exc:
        data = {"error": "invalid_arguments", "message": str(exc)}
        status = ToolRunStatus.INVALID
    except OrderSourceError:
        data, status = {"error": "order_system_unavailable"}, ToolRunStatus.FAILED
    except Exception:
        logger.exception("copilot tool %s failed", call.name)
        data, status = {"error": "tool_failed"}, ToolRunStatus.FAILED
    finally:
        connection.close()
    capped = result_capped(data=data, sources=sources)
    return ToolOutcome(
        call_id=call.id,
        name=call.name,
        status=status,
        content=json.dumps(capped["data"], ensure_ascii=False),
        label=tool.done_label if tool else call.name,
        data=capped["data"],
        sources=sources,
    )


async def _tool_outcome(conversation_id: Any, call: ToolCall) -> ToolOutcome:
    tool = tool_get(call.name)
    timeout = tool_timeout(tool) if tool else settings.SUPPORTBOT_TOOL_TIMEOUT
    run = database_call(_tool_run, may_hang=True)
    try:
        return await asyncio.wait_for(run(conversation_id, call), timeout)
    except TimeoutError:
        data = {"error": "timeout"}
        return ToolOutcome(call.id, call.name, ToolRunStatus.TIMEOUT, json.dumps(data), "", data)


async def draft_stream(*, conversation_id: Any, agent_name: str) -> AsyncIterator[Event]:
    """The draft's events: DraftTool while looking up, DraftDelta as it is written, DraftDone."""
    prepared = await database_call(_draft_prepare)(conversation_id)
    if prepared.over_budget:
        yield Error(code="budget_exhausted", message="The bot's daily token budget is used up.")
        return
    history, tools = prepared.history, prepared.tools
    engine = settings.SUPPORTBOT_ENGINE
    backend = backend_for(engine)
    model = history.model if engine == "openai" else "offline"
    instruction = {
        "role": "system",
        "content": DRAFT_INSTRUCTION.format(agent=agent_name or "the agent"),
    }
    extra: list[dict[str, Any]] = []
    outcomes: list[ToolOutcome] = []
    text, prompt, completion = "", 0, 0
    for round_index in range(settings.SUPPORTBOT_MAX_TOOL_ROUNDS + 1):
        allow_tools = bool(tools) and round_index < settings.SUPPORTBOT_MAX_TOOL_ROUNDS
        request = ModelRequest(
            model=model,
            messages=[*context_messages(history), instruction, *extra],
            tools=tools,
            tool_choice="none" if tools and not allow_tools else None,
            max_tokens=history.max_output_tokens,
            temperature=history.bot.temperature,
        )
        calls: list[ToolCall] = []
        text = ""
        try:
            async for event in backend.stream(request):
                if isinstance(event, TextDelta | RefusalDelta) and event.text:
                    text += event.text
                    yield DraftDelta(text=event.text)
                elif isinstance(event, Usage):
                    prompt += event.prompt_tokens
                    completion += event.completion_tokens
                elif isinstance(event, Finish):
                    calls = event.tool_calls if allow_tools else []
        except Exception:
            logger.warning("The copilot draft for %s failed", conversation_id, exc_info=True)
            yield Error(code="draft_failed", message="The draft could not be written; try again.")
            return
        if not calls:
            break
        extra.append(
            {
                "role": "assistant",
                "content": text or None,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in calls
                ],
            }
        )
        outcomes = []
        for call in calls:
            tool = tool_get(call.name)
            yield DraftTool(tool=call.name, label=tool.label if tool else "Looking it up…")
            outcome = await _tool_outcome(conversation_id, call)
            outcomes.append(outcome)
            extra.append({"role": "tool", "tool_call_id": call.id, "content": outcome.content})
    if prompt or completion:
        cost = (
            cost_usd(model=model, prompt_tokens=prompt, completion_tokens=completion)
            if engine == "openai"
            else Decimal(0)
        )
        await database_call(conversation_usage_add)(
            conversation_id=conversation_id,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost=cost,
        )
    yield DraftDone(text=text, prompt_tokens=prompt, completion_tokens=completion)
