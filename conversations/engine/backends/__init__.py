"""The model behind one small interface: the OpenAI-compatible client or the offline engine.

A backend turns a `ModelRequest` into a stream of `BackendEvent`s: text and refusal deltas,
the start of each tool call, the usage, and a `Finish` with the assembled tool calls. The
reply loop (loop.py) is the same for both backends.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

from conversations.tools import ToolCall


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One model call: what a chat completions API takes, nothing more."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    max_tokens: int
    temperature: float = 0.3
    tool_choice: str | None = None  # "none" forces a final answer


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    index: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Finish:
    """The model's turn ended; `reason` is OpenAI's finish_reason ("stop", "tool_calls", ...)."""

    reason: str
    tool_calls: list[ToolCall] = field(default_factory=list)


BackendEvent = TextDelta | RefusalDelta | ToolCallStarted | Usage | Finish


class Backend(Protocol):
    name: str

    def stream(self, request: ModelRequest) -> Any:
        """An async iterator of BackendEvents for one model call."""

    async def summarize(self, *, model: str, previous: str, messages: list[dict[str, Any]]) -> str:
        """A short running summary of older turns (previous summary plus these messages)."""

    async def moderate(self, *, text: str) -> bool:
        """Whether the text should be refused before any model call."""


def backend_for(engine: str) -> Backend:
    if engine == "openai":
        from conversations.engine.backends.openai import OpenAIBackend

        return OpenAIBackend()
    from conversations.engine.backends.offline import OfflineBackend

    return OfflineBackend()
