"""The OpenAI backend: the official SDK's async client, streamed chat completions with tools.

Works with api.openai.com and any OpenAI-compatible server (OPENAI_BASE_URL: vLLM, Ollama, a
llama.cpp server). The SDK's own retries are off: faults.py retries before the first token
and never after, which the SDK cannot know about.
"""

import asyncio
import json
import logging
import re
import ssl
import weakref
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import openai
from django.conf import settings
from openai import AsyncStream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

try:  # the SDK's private request helpers (see _completion_stream); any 3.x may move them
    from openai._base_client import make_request_options
    from openai._constants import RAW_RESPONSE_HEADER
    from openai._response import AsyncResponseContextManager
except ImportError:  # pragma: no cover - depends on the installed SDK
    make_request_options = None

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

try:  # the SDK's transport: httpx2 in recent versions, httpx before
    import httpx2

    TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (
        httpx.TimeoutException,
        httpx2.TimeoutException,
    )
    REQUEST_ERRORS: tuple[type[BaseException], ...] = (
        httpx.RequestError,
        httpx2.RequestError,
        ssl.SSLError,
        anyio.EndOfStream,
    )
except ImportError:  # pragma: no cover
    TIMEOUT_ERRORS = (httpx.TimeoutException,)
    REQUEST_ERRORS = (httpx.RequestError, ssl.SSLError, anyio.EndOfStream)

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
        settings.OPENAI_HTTP_CLIENT,
    )
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(key)
    if client is None:
        # Interactive: seconds, not the SDK's 600 s default. `read` bounds the wait for each
        # chunk, so a stalled stream fails fast too.
        timeout = httpx.Timeout(settings.OPENAI_TIMEOUT, connect=min(5.0, settings.OPENAI_TIMEOUT))
        client = openai.AsyncOpenAI(
            api_key=settings.OPENAI_API_KEY or "not-needed",
            base_url=settings.OPENAI_BASE_URL or None,
            timeout=timeout,
            max_retries=0,
            http_client=(
                openai.DefaultAioHttpClient(timeout=timeout)
                if settings.OPENAI_HTTP_CLIENT == "aiohttp"
                else None
            ),
        )
        per_loop[key] = client
    return client


class _ToolCallAssembler:
    """Rebuilds tool calls from deltas split across chunks, parallel calls included."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []
        self._by_index: dict[int, int] = {}

    def add(self, delta: dict[str, Any]) -> ToolCallStarted | None:
        index = delta.get("index")
        if index is None:
            index = len(self.calls)
        call_id = delta.get("id") or ""
        position = self._by_index.get(index)
        # Some compatible servers reuse index 0 for every call: a new id means a new call.
        if position is not None and call_id and self.calls[position]["id"] not in ("", call_id):
            position = None
        started = None
        if position is None:
            position = len(self.calls)
            self._by_index[index] = position
            self.calls.append({"id": call_id, "name": "", "arguments": ""})
        call = self.calls[position]
        if call_id and not call["id"]:
            call["id"] = call_id
        function = delta.get("function") or {}
        if function.get("name"):
            was_named = bool(call["name"])
            call["name"] += function["name"]
            if not was_named:
                started = ToolCallStarted(index=position, id=call["id"], name=call["name"])
        if function.get("arguments"):
            call["arguments"] += function["arguments"]
        return started

    def result(self) -> list[ToolCall]:
        return [
            ToolCall(id=c["id"] or f"call_{n}", name=c["name"], arguments=c["arguments"] or "{}")
            for n, c in enumerate(self.calls)
            if c["name"]
        ]


def _usage(usage: dict[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=details.get("cached_tokens") or 0,
    )


def _transport_error(exc: Exception, request: Any) -> Exception:
    """A transport error while reading the body, as the SDK reports it (AsyncStream does too)."""
    if isinstance(exc, TIMEOUT_ERRORS):
        return openai.APITimeoutError(request=request)
    if isinstance(exc, REQUEST_ERRORS):
        return openai.APIConnectionError(request=request)
    return exc


async def sse_batches(body: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """The `data:` fields of a server-sent event stream, split straight from the body's bytes:
    one list for each chunk of the body that completes any.

    Below httpx's line iterator, which decodes every chunk to text and splits it in Python:
    here a chunk is split once in C and only `data:` lines are kept (json.loads takes bytes).
    Lines may end in LF, CRLF or CR; a CRLF cut between two chunks makes an empty line, which
    carries no data.
    """
    rest = b""
    async for chunk in body:
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
        rest = lines.pop()
        batch = [line[5:].strip() for line in lines if line[:5] == b"data:"]
        if batch:
            yield batch
    if rest[:5] == b"data:":
        yield [rest[5:].strip()]


# The usual event mid-stream: one choice whose delta is only text, not finished. Its text is
# taken without json.loads and the dicts it builds (a third of the read's CPU a token). A JSON
# string here: no raw quote, backslash or control character, or an escape (decoded below).
_TEXT_ONLY_CHOICE = re.compile(
    rb'"choices":\[\{"index":0,"delta":\{"content":"((?:[^"\\\x00-\x1f]|\\.)*)"\},'
    rb'(?:"logprobs":null,)?"finish_reason":null\}\]'
)


def event_text(data: bytes) -> str | None:
    """The text of an event that carries nothing else, read without json.loads; else None.

    None sends the event to json.loads and the general path: any other shape, an `error` or a
    `usage` that is not null, more than one `choices`. A quote inside a string's text is
    escaped (\\"), so a quoted name found in the raw JSON is a whole key or string, never part
    of a text: a false alarm only costs the general path. Nothing checks the rest of the
    object beyond its braces: a server sending the usual shape inside broken JSON gets its
    text through rather than an error.
    """
    if data[:1] != b"{" or data[-1:] != b"}" or b'"error"' in data:
        return None
    found = _TEXT_ONLY_CHOICE.search(data)
    if found is None or data.count(b'"choices"') != 1:
        return None
    if b'"usage"' in data and data.count(b'"usage":null') != data.count(b'"usage"'):
        return None
    text = found.group(1)
    if b"\\" in text:
        return json.loads(b'"' + text + b'"')
    return text.decode()


def _body_chunks(http_response: Any) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive: raw when the server sent them uncompressed (event
    streams are, as a rule), which skips httpx's decoder and a generator a read; decoded by
    httpx otherwise."""
    if http_response.headers.get("content-encoding", "identity").strip() in ("", "identity"):
        return http_response.aiter_raw()
    return http_response.aiter_bytes()


_STREAM_CLS = AsyncStream[ChatCompletionChunk]


def _completion_stream(
    client: openai.AsyncOpenAI, body: dict[str, Any]
) -> AsyncResponseContextManager[Any]:
    """`chat.completions.with_streaming_response.create(**body)` without its parameter walk.

    The SDK's create() copies every message and tool schema through its typed-dict transform
    before sending (a few milliseconds of CPU per reply with the tools' schemas): `body` is
    already the JSON it would produce, so it goes to the same request path as it is. An SDK
    without those private helpers gets the public call: the same request, a little more CPU.
    """
    if make_request_options is None:
        return client.chat.completions.with_streaming_response.create(**body)
    return AsyncResponseContextManager(
        client.post(
            "/chat/completions",
            body=body,
            cast_to=ChatCompletion,
            options=make_request_options(
                extra_headers={RAW_RESPONSE_HEADER: "stream"}, security={"bearer_auth": True}
            ),
            stream=True,
            stream_cls=_STREAM_CLS,
        )
    )


class OpenAIBackend:
    name = "openai"

    async def stream(self, request: ModelRequest) -> AsyncIterator[BackendEvent]:
        """One streamed chat completion, read as raw server-sent events.

        The SDK builds, sends and checks the request (status errors become its exceptions);
        the body's bytes are split into events here (sse_batches) and parsed with json.loads
        rather than into the SDK's typed models, which costs about fifty times less CPU per
        token (see docs/engine.md). The text of the events one read of the body brings is one
        TextDelta: when tokens queue up (a busy process), every layer above (the engine's
        loop, the leak guard, the coalescer) runs once for them, not once a token.
        """
        client = openai_client()
        kwargs: dict[str, Any] = {}
        if request.tools:
            kwargs["tools"] = request.tools
            kwargs["parallel_tool_calls"] = True
            if request.tool_choice:
                kwargs["tool_choice"] = request.tool_choice
        assembler = _ToolCallAssembler()
        finish_reason: str | None = None
        async with _completion_stream(
            client,
            {
                "model": request.model,
                "messages": request.messages,
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                **kwargs,
            },
        ) as response:
            batches = sse_batches(_body_chunks(response.http_response))
            done = False
            while not done:
                try:
                    batch = await anext(batches)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    raise _transport_error(exc, response.http_request) from exc
                # The text of the events read together goes on as one delta.
                text: list[str] = []
                for data in batch:
                    if data == b"[DONE]":
                        done = True
                        break
                    content = event_text(data)
                    if content is not None:
                        if content:
                            text.append(content)
                        continue
                    chunk = json.loads(data)
                    if chunk.get("error"):
                        error = chunk["error"]
                        message = error.get("message") if isinstance(error, dict) else str(error)
                        raise openai.APIError(
                            message=message or "The model reported an error mid-stream.",
                            request=response.http_request,
                            body=error,
                        )
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        if delta.get("content"):
                            text.append(delta["content"])
                        if delta.get("refusal") or delta.get("tool_calls"):
                            if text:
                                yield TextDelta("".join(text))
                                text.clear()
                            if delta.get("refusal"):
                                yield RefusalDelta(delta["refusal"])
                            for tool_delta in delta.get("tool_calls") or ():
                                started = assembler.add(tool_delta)
                                if started is not None:
                                    yield started
                        if choice.get("finish_reason"):
                            finish_reason = choice["finish_reason"]
                    if chunk.get("usage"):
                        if text:
                            yield TextDelta("".join(text))
                            text.clear()
                        yield _usage(chunk["usage"])
                if text:
                    yield TextDelta("".join(text))
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
        self.last_summary_usage = (
            _usage(completion.usage.model_dump()) if completion.usage else None
        )
        return (completion.choices[0].message.content or "").strip()

    async def moderate(self, *, text: str) -> bool:
        client = openai_client()
        result = await client.moderations.create(input=text, model="omni-moderation-latest")
        return any(r.flagged for r in result.results)
