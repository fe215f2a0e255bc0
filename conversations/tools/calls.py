"""A tool call as the model made it, and its outcome as the engine gets it back."""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from conversations.domain.text import text_problem, text_storable

# The longest call id and tool name stored (ToolRun.call_id, Message.tool_call_id).
CALL_ID_MAX = 64


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
    size = len((text or "").encode())
    if size > settings.SUPPORTBOT_TOOL_ARGUMENTS_MAX_BYTES:
        return {"_too_large_bytes": size}
    try:
        value = json.loads(text or "{}")
    except (ValueError, RecursionError):  # deep nesting exhausts the parser's stack
        return {"_invalid_json": text_storable((text or "")[:2000])}
    if problem := text_problem(value):  # NUL, lone surrogates, deep nesting: not storable
        return {"_invalid_text": problem}
    return value if isinstance(value, dict) else {"_value": value}


def calls_bounded(calls: list[ToolCall]) -> list[ToolCall]:
    """A round's calls as the product keeps them, whatever the model sent.

    The first SUPPORTBOT_MAX_TOOL_CALLS_PER_ROUND calls, as storable text (domain/text.py);
    ids and names that fit their columns
    (a long id becomes a digest of it, so ids stay distinct and the history stays paired);
    arguments over SUPPORTBOT_TOOL_ARGUMENTS_MAX_BYTES replaced by a note of their size,
    which no tool's arguments accept.
    """
    bounded = []
    for call in calls[: settings.SUPPORTBOT_MAX_TOOL_CALLS_PER_ROUND]:
        call_id, name = text_storable(call.id), text_storable(call.name)
        arguments = text_storable(call.arguments)
        if len(call_id) > CALL_ID_MAX:
            call_id = "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:40]
        if len(name) > CALL_ID_MAX:
            name = name[:CALL_ID_MAX]
        size = len((arguments or "").encode())
        if size > settings.SUPPORTBOT_TOOL_ARGUMENTS_MAX_BYTES:
            arguments = json.dumps({"_too_large_bytes": size})
        if (call_id, name, arguments) != (call.id, call.name, call.arguments):
            call = ToolCall(id=call_id, name=name, arguments=arguments)
        bounded.append(call)
    return bounded
