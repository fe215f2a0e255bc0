"""The one registry of tools: their strict JSON schemas, labels and the typed functions.

A tool is a plain function `fn(*, context: ToolContext, **arguments) -> ToolResult`. The
context (who is asking, in which conversation) comes from the execution layer, never from the
model's arguments, so scoping cannot be talked around.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from django.conf import settings

from conversations.models import Bot


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who the tool acts for; built from the conversation's rows."""

    conversation_id: Any
    bot_id: int
    customer_id: int
    verified: bool
    email: str = ""
    external_id: str = ""


@dataclass(frozen=True, slots=True)
class ToolResult:
    data: dict[str, Any]
    sources: list[dict[str, Any]] = field(default_factory=list)
    # A tool's own "no" (not found, not allowed) is a success for the run; this marks real
    # failures (the order system is down) so the run is recorded as failed.
    failed: bool = False


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., ToolResult]
    label: str  # while it runs, e.g. "Looking up your order…"
    done_label: str  # once it finished, e.g. "Looked up your order"
    timeout: float | None = None  # seconds; None means SUPPORTBOT_TOOL_TIMEOUT
    enabled: Callable[[Bot], bool] = field(default=lambda bot: True)


class InvalidArguments(Exception):
    """The model's arguments do not fit the tool's schema."""


_tools: dict[str, Tool] = {}
_extras_loaded = False


def tool_register(tool: Tool) -> Tool:
    jsonschema.Draft202012Validator.check_schema(tool.parameters)
    _tools[tool.name] = tool
    return tool


def tool_unregister(name: str) -> None:
    _tools.pop(name, None)


def _load() -> None:
    """Import the built-in tools, and any a deployment adds (SUPPORTBOT_EXTRA_TOOLS)."""
    global _extras_loaded
    if _extras_loaded:
        return
    for module in (
        "conversations.tools.orders",
        "conversations.tools.faq",
        "conversations.tools.handoff",
        "conversations.tools.actions",
        *settings.SUPPORTBOT_EXTRA_TOOLS,
    ):
        importlib.import_module(module)
    _extras_loaded = True


def tool_get(name: str) -> Tool | None:
    _load()
    return _tools.get(name)


def tools_all() -> list[Tool]:
    _load()
    return list(_tools.values())


def object_schema(properties: dict[str, Any]) -> dict[str, Any]:
    """A strict-mode object schema: every property required, nothing else allowed."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


# Checked here, before a call runs, but left out of what the model is sent: strict mode
# accepts only a subset of JSON Schema, and length and range limits are outside it.
LOCAL_ONLY_KEYWORDS = frozenset(
    {"minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "pattern", "format"}
)


def strict_subset(schema: Any) -> Any:
    """The schema without the keywords OpenAI's strict mode refuses."""
    if isinstance(schema, list):
        return [strict_subset(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    subset: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":  # its keys are property names, whatever they are called
            subset[key] = {name: strict_subset(sub) for name, sub in value.items()}
        elif key not in LOCAL_ONLY_KEYWORDS:
            subset[key] = strict_subset(value)
    return subset


def tool_definitions_for(*, bot: Bot) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": strict_subset(tool.parameters),
                "strict": True,
            },
        }
        for tool in tools_all()
        if tool.enabled(bot)
    ]


def arguments_validate(*, tool: Tool, arguments: Any) -> dict[str, Any]:
    """The arguments if they fit the schema; else InvalidArguments saying what is wrong."""
    validator = jsonschema.Draft202012Validator(tool.parameters)
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = "/".join(str(p) for p in error.absolute_path) or "arguments"
        raise InvalidArguments(f"{where}: {error.message}"[:300])
    return arguments


def tool_timeout(tool: Tool) -> float:
    return tool.timeout if tool.timeout is not None else settings.SUPPORTBOT_TOOL_TIMEOUT
