"""The tools the model may call, and how the engine runs them (contract; see docs).

This module is the engine's only door to the tools:
- `tool_definitions(bot=...)`: the OpenAI `tools` parameter, strict JSON schemas made from each
  tool's pydantic argument model.
- `tool_calls_execute(...)`: runs a round of calls concurrently (Celery workers, or in-process
  on the embedded default), records a ToolRun row per call (of an assistant message, or of a
  copilot draft, which may run read-only tools only) and yields a `ToolOutcome` as each
  one finishes. It never raises for a tool's own fault: invalid arguments, errors and
  timeouts come back as outcomes the model can read.

The tools themselves: orders.py (identify_customer, get_order, list_recent_orders),
faq.py (search_faq), handoff.py (handoff_to_human), actions.py (cancel_order, start_return);
registry.py holds them, runs.py records runs, tasks.py is the Celery task, execution.py waits.
"""

from collections.abc import AsyncIterator
from typing import Any

from conversations.models import Bot
from conversations.tools.calls import ToolCall, ToolOutcome, call_arguments, calls_bounded
from conversations.tools.registry import tool_definitions_for, tool_get

__all__ = [
    "ToolCall",
    "ToolOutcome",
    "call_arguments",
    "calls_bounded",
    "tool_calls_execute",
    "tool_definitions",
    "tool_label",
]


def tool_definitions(*, bot: Bot) -> list[dict[str, Any]]:
    return tool_definitions_for(bot=bot)


def tool_label(*, name: str, arguments: dict[str, Any] | None = None) -> str:
    """What the customer sees while a tool runs, e.g. "Looking up your order…"."""
    tool = tool_get(name)
    return tool.label if tool is not None else "Working on it…"


async def tool_calls_execute(
    *,
    conversation_id: Any,
    calls: list[ToolCall],
    message_id: int | None = None,
    draft_id: int | None = None,
) -> AsyncIterator[ToolOutcome]:
    from conversations.tools.execution import tool_runs_await

    async for outcome in tool_runs_await(
        conversation_id=conversation_id, message_id=message_id, draft_id=draft_id, calls=calls
    ):
        yield outcome
