"""The tools the model may call, and how the engine runs them (contract; see docs).

This module is the engine's only door to the tools:
- `tool_definitions(bot=...)`: the OpenAI `tools` parameter, strict JSON schemas.
- `tool_calls_execute(...)`: runs a round of calls concurrently (Celery workers, or in-process
  on the embedded default), records a ToolRun row per call and yields a `ToolOutcome` as each
  one finishes. It never raises for a tool's own fault: invalid arguments, errors and
  timeouts come back as outcomes the model can read.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from conversations.models import Bot, ToolRunStatus


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call as the model made it; `arguments` is the raw JSON text, unvalidated."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    call_id: str
    name: str
    status: str  # a ToolRunStatus value
    content: str  # what goes back to the model as the tool message (JSON text)
    label: str  # the customer-facing status line, e.g. "Looked up your order"
    data: dict[str, Any] = field(default_factory=dict)  # the structured result
    sources: list[dict[str, Any]] = field(default_factory=list)  # citable FAQ entries
    duration_ms: int | None = None


def tool_definitions(*, bot: Bot) -> list[dict[str, Any]]:
    return []


def tool_label(*, name: str, arguments: dict[str, Any] | None = None) -> str:
    return "Working on it…"


async def tool_calls_execute(
    *, conversation_id: Any, message_id: int, calls: list[ToolCall]
) -> AsyncIterator[ToolOutcome]:
    for call in calls:
        yield ToolOutcome(
            call_id=call.id,
            name=call.name,
            status=ToolRunStatus.FAILED,
            content='{"error": "tool not available"}',
            label="Tool not available",
        )
