"""A tool that sleeps, for timeout and concurrency tests (SUPPORTBOT_EXTRA_TOOLS loads it in
a worker; tests import it)."""

import time

from conversations.tools.registry import (
    Tool,
    ToolContext,
    ToolResult,
    object_schema,
    tool_register,
    tool_unregister,
)


def wait_a_while(*, context: ToolContext, seconds: float) -> ToolResult:
    time.sleep(seconds)
    return ToolResult(data={"slept": seconds})


def big_answer(*, context: ToolContext, size: int) -> ToolResult:
    return ToolResult(data={"text": "x" * size})


TOOLS = [
    Tool(
        name="wait_a_while",
        description="Sleep (tests only).",
        parameters=object_schema({"seconds": {"type": "number", "minimum": 0, "maximum": 60}}),
        function=wait_a_while,
        label="Waiting…",
        done_label="Waited",
        timeout=2.0,
    ),
    Tool(
        name="big_answer",
        description="A large result (tests only).",
        parameters=object_schema({"size": {"type": "integer", "minimum": 0}}),
        function=big_answer,
        label="Working…",
        done_label="Done",
    ),
]


def register() -> None:
    for tool in TOOLS:
        tool_register(tool)


def unregister() -> None:
    for tool in TOOLS:
        tool_unregister(tool.name)


register()
