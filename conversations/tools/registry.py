"""The one registry of tools: their argument models, labels and the typed functions.

A tool is a plain function `fn(*, context: ToolContext, **arguments) -> ToolResult` and a
pydantic model of its arguments, defined once: `openai.pydantic_function_tool` turns the model
into the strict schema the model is sent, and the same model validates what the model sends.
The context (who is asking, in which conversation) comes from the execution layer, never from
the model's arguments, so scoping cannot be talked around.
"""

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from django.conf import settings
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from conversations.domain.text import text_problem, text_storable
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


class ToolArguments(BaseModel):
    """A tool's arguments: every field required, nothing else allowed, no type coercion.

    Limits strict mode refuses in a schema (lengths, ranges, counts) are `Length`/`Range`
    validators: checked here before a call runs, left out of what the model is sent.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


def Length(low: int, high: int) -> AfterValidator:
    """A str or list with between `low` and `high` characters or items."""

    def check(value: Any) -> Any:
        if not low <= len(value) <= high:
            raise ValueError(f"length must be from {low} to {high}")
        return value

    return AfterValidator(check)


def Range(low: float, high: float | None = None) -> AfterValidator:
    """A number from `low` to `high` (no upper bound without one)."""

    def check(value: Any) -> Any:
        if value < low or (high is not None and value > high):
            raise ValueError(f"must be from {low} to {high}" if high is not None else f">= {low}")
        return value

    return AfterValidator(check)


class NoArguments(ToolArguments):
    """A tool that takes no arguments."""


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    arguments: type[ToolArguments]
    function: Callable[..., ToolResult]
    label: str  # while it runs, e.g. "Looking up your order…"
    done_label: str  # once it finished, e.g. "Looked up your order"
    timeout: float | None = None  # seconds; None means SUPPORTBOT_TOOL_TIMEOUT
    enabled: Callable[[Bot], bool] = field(default=lambda bot: True)
    # Looks things up and changes nothing (no order proven, no handoff, nothing in the store):
    # the only kind a copilot draft may run (tools/runs.py enforces it).
    read_only: bool = False


class InvalidArguments(Exception):
    """The model's arguments do not fit the tool's schema."""


_tools: dict[str, Tool] = {}
_extras_loaded = False


def tool_register(tool: Tool) -> Tool:
    if not issubclass(tool.arguments, ToolArguments):
        raise TypeError(f"{tool.name}: arguments must be a ToolArguments model")
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


@functools.lru_cache(maxsize=256)
def _definition(tool: Tool) -> dict[str, Any]:
    # Building the strict schema from the model costs about a millisecond a tool: once.
    return openai.pydantic_function_tool(
        tool.arguments, name=tool.name, description=tool.description
    )


def tool_definitions_for(*, bot: Bot) -> list[dict[str, Any]]:
    """The OpenAI `tools` parameter: each enabled tool's strict schema, from its model.

    The schemas are shared by every reply of the process, not deep-copied for each: read
    them, never change them.
    """
    return [_definition(tool) for tool in tools_all() if tool.enabled(bot)]


def arguments_validate(*, tool: Tool, arguments_json: str) -> dict[str, Any]:
    """The arguments, parsed and checked once; else InvalidArguments saying what is wrong."""
    size = len((arguments_json or "").encode())
    if size > settings.SUPPORTBOT_TOOL_ARGUMENTS_MAX_BYTES:
        raise InvalidArguments(f"arguments: {size} bytes is too long")
    try:
        arguments = tool.arguments.model_validate_json(arguments_json or "{}")
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "/".join(str(p) for p in error["loc"]) or "arguments"
        raise InvalidArguments(text_storable(f"{where}: {error['msg']}"[:300])) from None
    dumped = arguments.model_dump()
    if problem := text_problem(dumped):  # "\u0000" or a lone "\ud800" in a string
        raise InvalidArguments(f"arguments: {problem}")
    return dumped


def tool_timeout(tool: Tool) -> float:
    return tool.timeout if tool.timeout is not None else settings.SUPPORTBOT_TOOL_TIMEOUT
