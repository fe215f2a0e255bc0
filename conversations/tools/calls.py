"""A tool call as the model made it, and its outcome as the engine gets it back."""

from dataclasses import dataclass, field
from typing import Any


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
