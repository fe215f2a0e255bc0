"""A real local HTTP server that speaks OpenAI's chat-completions protocol, for tests and benches.

The openai SDK talks to it over real sockets (`base_url=server.base_url`), so tests exercise the
SDK's own streaming, retries and error mapping, with nothing patched. It is a tiny ASGI app on
uvicorn, in a background thread with its own event loop: every streamed reply is one coroutine,
so a benchmark can hold a thousand slow streams open at once.

Script it per test with `Reply` objects:

    server.script(Reply(text="Hello!"))                        # queued, used once, in order
    server.script(Reply(tool_calls=[ToolCallSpec("get_order", {"order_number": "1001"})]))
    server.rule = lambda request: Reply(text="echo " + request.last_user_text)  # when empty
    server.requests                                             # what it received, in order

A `Reply` can also be a fault: `Reply.rate_limited(retry_after=0.01)`, `Reply.server_error()`,
`Reply.context_length_exceeded()`, `Reply(text=..., cut_after=3)` (the connection drops after
three content chunks, without [DONE]), `Reply(first_token_delay=2)` and `Reply(header_delay=2)`
(slow to start), `Reply(tokens_per_second=60)`, `Reply(refusal="I can't help with that.")`,
`Reply(text=..., finish_reason="content_filter")`. `POST /v1/moderations` flags any input that
contains one of `server.flagged_words`.

Use it as the `openai_server` pytest fixture (tests/conftest.py) or directly:

    with OpenAIServer() as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

_PIECE = re.compile(r"\s*\S+|\s+")
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ToolCallSpec:
    """One tool call the scripted model makes; `arguments` is a dict or raw JSON text."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(slots=True)
class Reply:
    """What the scripted model answers to one request (a stream, a completion or an error)."""

    text: str = ""
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    refusal: str = ""
    finish_reason: str | None = None  # default: "tool_calls" with calls, else "stop"
    # Usage: computed from the request and reply when not given.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int = 0
    # Pacing and faults.
    header_delay: float = 0.0  # seconds before the response headers
    first_token_delay: float = 0.0  # seconds between the role chunk and the first content
    tokens_per_second: float | None = None  # pace of the content chunks (None: no delay)
    cut_after: int | None = None  # drop the connection after this many content chunks
    argument_piece: int = 7  # tool-call arguments are split into pieces of this many chars
    interleave_tool_calls: bool = False  # parallel calls' argument pieces alternate
    status: int = 200
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    model: str | None = None  # default: the requested model

    @classmethod
    def rate_limited(cls, *, retry_after: float | None = 0.01) -> Reply:
        headers = {} if retry_after is None else {"retry-after-ms": str(int(retry_after * 1000))}
        return cls(
            status=429,
            headers=headers,
            error={
                "message": "Rate limit reached for gpt-4o-mini. Please try again later.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            },
        )

    @classmethod
    def server_error(cls, *, status: int = 500) -> Reply:
        return cls(
            status=status,
            error={
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "param": None,
                "code": None,
            },
        )

    @classmethod
    def context_length_exceeded(cls) -> Reply:
        return cls(
            status=400,
            error={
                "message": (
                    "This model's maximum context length is 128000 tokens. However, your "
                    "messages resulted in 130000 tokens. Please reduce the length of the messages."
                ),
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            },
        )


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as the server got it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages") or []

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):
                    return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
                return content or ""
        return ""


def _pieces(text: str) -> list[str]:
    """Split text into word-sized pieces, like tokens (whitespace stays with the next word)."""
    return _PIECE.findall(text)


def _estimate_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


class OpenAIServer:
    """The protocol server. Start with `start()` (or `with`), stop with `stop()`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        rule: Callable[[ReceivedRequest], Reply] | None = None,
        record: bool = True,
        default_text: str = "Hello from the local OpenAI server.",
    ) -> None:
        self.host = host
        self.port = 0
        self.rule = rule
        self.record = record
        self.default_text = default_text
        self.flagged_words: set[str] = set()
        self.embedding_dim = 64
        self.requests: list[ReceivedRequest] = []
        self.streams_open = 0
        self.streams_cut = 0
        self._queue: collections.deque[Reply] = collections.deque()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies; each request takes the next one (then `rule`, then a default)."""
        self._queue.extend(replies)

    def reset(self) -> None:
        self._queue.clear()
        self.requests.clear()
        self.rule = None
        self.flagged_words = set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def chat_requests(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next_reply(self, request: ReceivedRequest) -> Reply:
        try:
            return self._queue.popleft()
        except IndexError:
            pass
        if self.rule is not None:
            return self.rule(request)
        return Reply(text=self.default_text)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,
            log_level="critical",
            access_log=False,
            lifespan="off",
            interface="asgi3",
            backlog=4096,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        started = threading.Event()

        def run() -> None:
            try:
                import uvloop

                loop = uvloop.new_event_loop()
            except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
                loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)

            async def serve() -> None:
                task = asyncio.create_task(self._server.serve(sockets=[sock]))
                while not self._server.started and not task.done():
                    await asyncio.sleep(0.005)
                started.set()
                await task

            try:
                loop.run_until_complete(serve())
            finally:
                started.set()
                loop.close()

        self._thread = threading.Thread(target=run, name="openai-test-server", daemon=True)
        self._thread.start()
        started.wait(10)
        if not self._server.started:
            raise RuntimeError("the local OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self._server = None
        self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the ASGI app ------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        path = scope["path"]
        request = ReceivedRequest(
            method=scope["method"],
            path=path,
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
            received_at=time.monotonic(),
        )
        if self.record:
            self.requests.append(request)
        if path.endswith("/chat/completions") and scope["method"] == "POST":
            await self._chat(request, send, receive)
        elif path.endswith("/moderations") and scope["method"] == "POST":
            await self._json(send, 200, self._moderation(request))
        elif path.endswith("/embeddings") and scope["method"] == "POST":
            await self._json(send, 200, self._embeddings(request))
        elif path.endswith("/models"):
            await self._json(send, 200, {"object": "list", "data": [{"id": "gpt-4o-mini"}]})
        else:
            await self._json(send, 404, {"error": {"message": "Not found", "type": "not_found"}})

    async def _json(
        self, send: Any, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
        ]
        raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": data})

    def _embeddings(self, request: ReceivedRequest) -> dict[str, Any]:
        """Deterministic vectors: hashed lower-case words, so shared words mean closeness."""
        inputs = request.body.get("input", "")
        if not isinstance(inputs, list):
            inputs = [inputs]
        data = []
        for n, text in enumerate(inputs):
            vector = [0.0] * self.embedding_dim
            for word in str(text).lower().split():
                word = word.strip(".,!?")
                if word:
                    vector[zlib.crc32(word.encode()) % self.embedding_dim] += 1.0
            data.append({"object": "embedding", "index": n, "embedding": vector})
        tokens = sum(len(str(t).split()) for t in inputs)
        return {
            "object": "list",
            "data": data,
            "model": request.body.get("model", ""),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _moderation(self, request: ReceivedRequest) -> dict[str, Any]:
        inputs = request.body.get("input", "")
        if not isinstance(inputs, list):
            inputs = [inputs]
        results = []
        for item in inputs:
            text = item if isinstance(item, str) else json.dumps(item)
            flagged = any(word.lower() in text.lower() for word in self.flagged_words)
            results.append(
                {
                    "flagged": flagged,
                    "categories": {"harassment": flagged, "violence": False},
                    "category_scores": {"harassment": 0.97 if flagged else 0.001, "violence": 0.0},
                }
            )
        return {"id": f"modr-{next(_ids)}", "model": "omni-moderation-latest", "results": results}

    async def _chat(self, request: ReceivedRequest, send: Any, receive: Any) -> None:
        reply = self._next_reply(request)
        if reply.header_delay:
            await asyncio.sleep(reply.header_delay)
        if reply.status != 200:
            await self._json(send, reply.status, {"error": reply.error or {}}, reply.headers)
            return
        if request.body.get("stream"):
            await self._stream(request, reply, send, receive)
        else:
            await self._json(send, 200, self._completion(request, reply), reply.headers)

    def _usage(self, request: ReceivedRequest, reply: Reply, pieces: int) -> dict[str, Any]:
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = _estimate_tokens(request.messages) + _estimate_tokens(
                request.body.get("tools") or []
            )
        completion = reply.completion_tokens if reply.completion_tokens is not None else pieces
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    @staticmethod
    def _finish_reason(reply: Reply) -> str:
        if reply.finish_reason:
            return reply.finish_reason
        return "tool_calls" if reply.tool_calls else "stop"

    def _completion(self, request: ReceivedRequest, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text or None,
            "refusal": reply.refusal or None,
        }
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_{next(_ids)}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_text()},
                }
                for call in reply.tool_calls
            ]
        pieces = len(_pieces(reply.text or reply.refusal)) + sum(
            len(c.arguments_text()) // 4 + 1 for c in reply.tool_calls
        )
        return {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or request.body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_local",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self._finish_reason(reply),
                }
            ],
            "usage": self._usage(request, reply, pieces),
        }

    def _tool_call_deltas(self, reply: Reply) -> Iterator[dict[str, Any]]:
        per_call: list[list[dict[str, Any]]] = []
        for index, call in enumerate(reply.tool_calls):
            text = call.arguments_text()
            size = max(1, reply.argument_piece)
            deltas = [
                {
                    "index": index,
                    "id": call.id or f"call_{next(_ids)}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
            ]
            deltas += [
                {"index": index, "function": {"arguments": text[i : i + size]}}
                for i in range(0, len(text), size)
            ]
            per_call.append(deltas)
        if reply.interleave_tool_calls:
            for group in itertools.zip_longest(*per_call):
                yield from (delta for delta in group if delta is not None)
        else:
            for deltas in per_call:
                yield from deltas

    async def _stream(
        self, request: ReceivedRequest, reply: Reply, send: Any, receive: Any
    ) -> None:
        include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": reply.model or request.body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_local",
        }
        usage_null = {"usage": None} if include_usage else {}

        # Each chunk is the same envelope around a small delta: build the envelope once.
        head = b'data: {"choices": [{"index": 0, "delta": '
        tail = json.dumps(usage_null | base)[1:].encode() + b"\n\n"

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            middle = b', "logprobs": null, "finish_reason": ' + json.dumps(finish_reason).encode()
            return head + json.dumps(delta).encode() + middle + b"}], " + tail

        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-request-id", f"req_{next(_ids)}".encode()),
        ]
        headers += [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        self.streams_open += 1
        gone: asyncio.Future | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send(
                {
                    "type": "http.response.body",
                    "body": chunk({"role": "assistant", "content": "", "refusal": None}),
                    "more_body": True,
                }
            )
            if reply.first_token_delay:
                await asyncio.sleep(reply.first_token_delay)
            interval = 1.0 / reply.tokens_per_second if reply.tokens_per_second else 0.0
            deltas: list[dict[str, Any]] = [{"content": p} for p in _pieces(reply.text)]
            deltas += [{"refusal": p} for p in _pieces(reply.refusal)]
            deltas += [{"tool_calls": [d]} for d in self._tool_call_deltas(reply)]
            next_at = time.monotonic()
            # A client that hangs up (a stopped reply) ends the stream: stop writing to it.
            gone = asyncio.ensure_future(receive())
            for sent, delta in enumerate(deltas):
                if gone.done():
                    return
                if reply.cut_after is not None and sent >= reply.cut_after:
                    self.streams_cut += 1
                    # Raising after the response started makes uvicorn drop the connection
                    # without the final chunk: the client sees an incomplete body.
                    raise _StreamCut
                if interval and sent:
                    next_at += interval
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await send({"type": "http.response.body", "body": chunk(delta), "more_body": True})
            if reply.cut_after is not None and reply.cut_after >= len(deltas):
                self.streams_cut += 1
                raise _StreamCut
            ending = chunk({}, self._finish_reason(reply))
            if include_usage:
                usage = self._usage(request, reply, len(deltas))
                ending += (
                    b"data: "
                    + json.dumps({**base, "choices": [], "usage": usage}).encode()
                    + b"\n\n"
                )
            ending += b"data: [DONE]\n\n"
            await send({"type": "http.response.body", "body": ending, "more_body": False})
        finally:
            self.streams_open -= 1
            if gone is not None:
                gone.cancel()


class _StreamCut(Exception):
    """Raised inside the app to drop a stream mid-way (uvicorn then closes the socket)."""


@contextlib.contextmanager
def openai_server_running(**kwargs: Any) -> Iterator[OpenAIServer]:
    server = OpenAIServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
