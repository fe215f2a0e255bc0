"""A tool that sleeps, for timeout and concurrency tests (SUPPORTBOT_EXTRA_TOOLS loads it in
a worker; tests import it)."""

import time
from typing import Annotated

from django.db import connection

from conversations.tools.registry import (
    NoArguments,
    Range,
    Tool,
    ToolArguments,
    ToolContext,
    ToolResult,
    tool_register,
    tool_unregister,
)


class WaitArguments(ToolArguments):
    seconds: Annotated[float, Range(0, 60)]


class SizeArguments(ToolArguments):
    size: Annotated[int, Range(0)]


def wait_a_while(*, context: ToolContext, seconds: float) -> ToolResult:
    time.sleep(seconds)
    return ToolResult(data={"slept": seconds})


def big_answer(*, context: ToolContext, size: int) -> ToolResult:
    return ToolResult(data={"text": "x" * size})


def database_backend(*, context: ToolContext) -> ToolResult:
    """The PostgreSQL backend serving this process's connection: a new one means a reconnect."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return ToolResult(data={"backend_pid": cursor.fetchone()[0]})


TOOLS = [
    Tool(
        name="wait_a_while",
        description="Sleep (tests only).",
        arguments=WaitArguments,
        function=wait_a_while,
        label="Waiting…",
        done_label="Waited",
        timeout=2.0,
    ),
    Tool(
        name="big_answer",
        description="A large result (tests only).",
        arguments=SizeArguments,
        function=big_answer,
        label="Working…",
        done_label="Done",
    ),
    Tool(
        name="database_backend",
        description="The database backend's process id (tests only).",
        arguments=NoArguments,
        function=database_backend,
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
