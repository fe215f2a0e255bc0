"""The OpenAI backend: the official SDK's async client, streamed chat completions with tools.

Works with api.openai.com and any OpenAI-compatible server (OPENAI_BASE_URL: vLLM, Ollama, a
llama.cpp server). The SDK's own retries are off: faults.py retries before the first token
and never after, which the SDK cannot know about.
"""

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
from django.conf import settings

from conversations.engine.backends import (
    BackendEvent,
    Finish,
    ModelRequest,
    RefusalDelta,
    TextDelta,
    ToolCallStarted,
    Usage,
)
from conversations.tools import ToolCall

logger = logging.getLogger(__name__)

# One client (and its connection pool) per event loop: pooled connections belong to a loop.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, openai.AsyncOpenAI]]"
_clients = weakref.WeakKeyDictionary()

SUMMARY_PROMPT = (
    "You keep the running summary of a customer-support chat for the assistant that continues "
    "it. Merge the previous summary with the new messages into at most 150 words: what the "
    "customer wants, order numbers, what was verified, what was found and what was promised. "
    "Facts only, no instructions."
)


def openai_client() -> openai.AsyncOpenAI:
    """The shared async client for this event loop, configured from settings."""
    key = (
        settings.OPENAI_API_KEY,
        settings.OPENAI_BASE_URL,
        settings.OPENAI_TIMEOUT,
    )
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(key)
    if client is None:
        client = openai.AsyncOpenAI(
            api_key=settings.OPENAI_API_KEY or "not-needed",
            base_url=settings.OPENAI_BASE_URL or None,
            # Interactive: seconds, not the SDK's 600 s default. `read` bounds the wait for
            # each chunk, so a stalled stream fails fast too.
            timeout=httpx.Timeout(
                settings.OPENAI_TIMEOUT, connect=min(5.0, settings.OPENAI_TIMEOUT)
            ),
            max_retries=0,
        )
        per_loop[key] = client
    return client


class _ToolCallAssembler:
    """Rebuilds tool calls from deltas split across chunks, parallel calls included."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []
        self._by_index: dict[int, int] = {}

    def add(self, delta: Any) -> ToolCallStarted | None:
        index = delta.index if delta.index is not None else len(self.calls)
        position = self._by_index.get(index)
        # Some compatible servers reuse index 0 for every call: a new id means a new call.
        if position is not None and delta.id and self.calls[position]["id"] not in ("", delta.id):
            position = None
        started = None
        if position is None:
            position = len(self.calls)
            self._by_index[index] = position
            self.calls.append({"id": delta.id or "", "name": "", "arguments": ""})
        call = self.calls[position]
        if delta.id and not call["id"]:
            call["id"] = delta.id
        function = delta.function
        if function is not None:
            if function.name:
                was_named = bool(call["name"])
                call["name"] += function.name
                if not was_named:
                    started = ToolCallStarted(index=position, id=call["id"], name=call["name"])
            if function.arguments:
                call["arguments"] += function.arguments
        return started

    def result(self) -> list[ToolCall]:
        return [
            ToolCall(id=c["id"] or f"call_{n}", name=c["name"], arguments=c["arguments"] or "{}")
            for n, c in enumerate(self.calls)
            if c["name"]
        ]


def _usage(usage: Any) -> Usage:
    details = getattr(usage, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        cached_tokens=cached,
    )


class OpenAIBackend:
    name = "openai"

    async def stream(self, request: ModelRequest) -> AsyncIterator[BackendEvent]:
        client = openai_client()
        kwargs: dict[str, Any] = {}
        if request.tools:
            kwargs["tools"] = request.tools
            kwargs["parallel_tool_calls"] = True
            if request.tool_choice:
                kwargs["tool_choice"] = request.tool_choice
        stream = await client.chat.completions.create(
            model=request.model,
            messages=request.messages,
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            **kwargs,
        )
        assembler = _ToolCallAssembler()
        finish_reason: str | None = None
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    yield _usage(chunk.usage)
                for choice in chunk.choices or []:
                    delta = choice.delta
                    if delta is not None:
                        if delta.content:
                            yield TextDelta(delta.content)
                        refusal = getattr(delta, "refusal", None)
                        if refusal:
                            yield RefusalDelta(refusal)
                        for tool_delta in delta.tool_calls or []:
                            started = assembler.add(tool_delta)
                            if started is not None:
                                yield started
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        finally:
            await stream.close()
        if finish_reason is None:
            # The body ended cleanly but the model never said it was done: a cut stream.
            raise openai.APIConnectionError(
                message="The stream ended without a finish reason.",
                request=httpx.Request("POST", str(client.base_url)),
            )
        yield Finish(reason=finish_reason, tool_calls=assembler.result())

    async def summarize(self, *, model: str, previous: str, messages: list[dict[str, Any]]) -> str:
        client = openai_client()
        transcript = "\n".join(
            f"{m['role']}: {m.get('content') if isinstance(m.get('content'), str) else '[image]'}"
            for m in messages
            if m.get("content")
        )
        completion = await client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": SUMMARY_PROMPT},
                {
                    "role": "user",
                    "content": f"Previous summary:\n{previous or '(none)'}\n\nNew messages:\n"
                    f"{transcript}",
                },
            ],
            max_tokens=300,
            temperature=0,
        )
        self.last_summary_usage = _usage(completion.usage) if completion.usage else None
        return (completion.choices[0].message.content or "").strip()

    async def moderate(self, *, text: str) -> bool:
        client = openai_client()
        result = await client.moderations.create(input=text, model="omni-moderation-latest")
        return any(r.flagged for r in result.results)
