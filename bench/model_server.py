"""A lean OpenAI-protocol server for load benchmarks: many slow streams for little CPU.

tests/openai_server.py is the scriptable one the tests use (uvicorn, one coroutine and one
sleep per token): at a thousand streams of 60 tokens a second it spends more than a core of
its own, on the same two cores as the product it is meant to measure. This one answers every
POST /v1/chat/completions with a stream in the chat-completions chunk format (role chunk,
content chunks, finish chunk, usage chunk when asked, [DONE]), paced by one ticker for all
streams: each tick writes every token that has fallen due, one chunk per token, in one write
per stream.

Each token is its emission time: " 12345678901" (time.monotonic() in microseconds, the clock
every process on the machine shares), so a client can tell how long each token took to reach
it through the product. GET /stats answers how far behind schedule the ticker emitted
(POST /stats/reset starts over).

    python bench/model_server.py --rate 60 --tokens 300 --first-token-delay 0.2
"""

import argparse
import asyncio
import json
import time

TICK_SECONDS = 0.005


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def token_stamp(text: str) -> float:
    """The emission time (time.monotonic() seconds) a benchmark token carries."""
    return int(text) / 1e6


class Stream:
    __slots__ = ("base", "done", "due", "envelope", "sent", "tokens", "transport", "usage")

    def __init__(self, transport, *, start: float, tokens: int, usage: bool, base: bytes):
        self.transport = transport
        self.due = start
        self.sent = 0
        self.tokens = tokens
        self.usage = usage
        self.base = base  # id, object, created, model...
        self.envelope = base + (b',"usage":null' if usage else b"")  # ...of every chunk
        self.done = False


def _chunk(base: bytes, delta: str, finish: str = "null") -> bytes:
    body = b'data: {"choices":[{"index":0,"delta":' + delta.encode() + b',"logprobs":null,'
    body += b'"finish_reason":' + finish.encode() + b"}]," + base + b"}\n\n"
    return b"%x\r\n%s\r\n" % (len(body), body)


class ModelServer:
    def __init__(self, *, rate: float, tokens: int, first_token_delay: float) -> None:
        self.interval = 1.0 / rate
        self.tokens = tokens
        self.first_token_delay = first_token_delay
        self.streams: list[Stream] = []
        self.slips: list[float] = []  # seconds each tick ran late, sampled
        self.served = 0
        self.ids = 0

    def protocol(self) -> asyncio.Protocol:
        return _Connection(self)

    def open_stream(self, transport, body: dict) -> None:
        self.ids += 1
        self.served += 1
        base = (
            b'"id":"chatcmpl-%d","object":"chat.completion.chunk","created":%d,'
            b'"model":"%s","system_fingerprint":"fp_bench"'
            % (self.ids, int(time.time()), str(body.get("model", "gpt-4o-mini")).encode())
        )
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        envelope = base + (b',"usage":null' if usage else b"")
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
            b"x-request-id: req_%d\r\n\r\n" % self.ids
        )
        role = '{"role":"assistant","content":"","refusal":null}'
        transport.write(head + _chunk(envelope, role))
        start = time.monotonic() + self.first_token_delay
        self.streams.append(
            Stream(transport, start=start, tokens=self.tokens, usage=usage, base=base)
        )

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            if not self.streams:
                continue
            late = 0.0
            for stream in self.streams:
                if stream.transport.is_closing():
                    stream.done = True
                    continue
                out = []
                while stream.due <= now and stream.sent < stream.tokens:
                    late = max(late, now - stream.due)
                    stamp = int(time.monotonic() * 1e6)
                    out.append(_chunk(stream.envelope, f'{{"content":" {stamp}"}}'))
                    stream.sent += 1
                    stream.due += self.interval
                if stream.sent >= stream.tokens:
                    out.append(self._ending(stream))
                    stream.done = True
                if out:
                    stream.transport.write(b"".join(out))
            self.slips.append(late)
            if len(self.slips) > 200_000:
                del self.slips[:100_000]
            self.streams = [s for s in self.streams if not s.done]

    def _ending(self, stream: Stream) -> bytes:
        ending = _chunk(stream.envelope, "{}", '"stop"')
        if stream.usage:
            usage = {"prompt_tokens": 50, "completion_tokens": stream.tokens}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            body = b'data: {"choices":[],' + stream.base + b',"usage":' + json.dumps(usage).encode()
            body += b"}\n\n"
            ending += b"%x\r\n%s\r\n" % (len(body), body)
        done = b"data: [DONE]\n\n"
        return ending + b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done)

    def stats(self) -> dict:
        return {
            "streams_served": self.served,
            "streams_open": len(self.streams),
            "tick_late_ms_p50": percentile(self.slips, 50) * 1000,
            "tick_late_ms_p95": percentile(self.slips, 95) * 1000,
            "tick_late_ms_max": max(self.slips, default=0.0) * 1000,
        }


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: a request head, a Content-Length body, then the answer."""

    def __init__(self, server: ModelServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)
            }
            length = int(headers.get("content-length", 0))
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            self.respond(method, path, body)

    def respond(self, method: str, path: str, body: bytes) -> None:
        if method == "POST" and path.endswith("/chat/completions"):
            request = json.loads(body or b"{}")
            if request.get("stream"):
                self.server.open_stream(self.transport, request)
                return
            self.json(400, {"error": {"message": "benchmark server: stream only"}})
        elif method == "GET" and path == "/stats":
            self.json(200, self.server.stats())
        elif method == "POST" and path == "/stats/reset":
            self.server.slips.clear()
            self.json(200, self.server.stats())
        else:
            self.json(404, {"error": {"message": f"no route {method} {path}"}})

    def json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (status, reason, len(body), body)
        )


async def serve(args: argparse.Namespace) -> None:
    server = ModelServer(
        rate=args.rate, tokens=args.tokens, first_token_delay=args.first_token_delay
    )
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server.protocol, "127.0.0.1", args.port, backlog=4096)
    port = listener.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    await server.tick()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=60.0, help="tokens a second per stream")
    parser.add_argument("--tokens", type=int, default=300, help="tokens a reply")
    parser.add_argument("--first-token-delay", type=float, default=0.2, help="seconds")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args))
    except ImportError:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
