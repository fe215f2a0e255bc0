"""A tool call as the model made it, and its outcome as the engine gets it back."""

import json
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


def call_arguments(text: str) -> dict[str, Any]:
    """A call's arguments as a dict to show and store, whatever the model sent.

    Only for display and the record: what a tool runs with is its argument model's validation
    (registry.arguments_validate).
    """
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"_invalid_json": (text or "")[:2000]}
    return value if isinstance(value, dict) else {"_value": value}
