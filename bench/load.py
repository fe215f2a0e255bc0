"""Load clients for the live-chat benchmark, run in processes of their own.

Each client process runs one asyncio loop with its share of the clients and a probe that
measures how late the loop wakes up: a client process that cannot keep up would add its own
lag to every figure, so its probe is part of every result and the benchmark refuses to judge
a target on a starved measurement.

Two kinds of client:
- `chat`: a customer written from docs/protocol.md alone: the widget session endpoint, the
  websocket, an `auth` frame, `message` frames, the streamed `assistant.delta`/`assistant.done`.
- `raw`: the bare reader the product is compared with: the chat-completions request and the
  stream's raw SSE lines, each parsed with json.loads (what the product's backend does), no
  product in between.

Every token the model server sends carries its emission time (bench/model_server.py), so each
client measures, per token, how long it took to reach it.
"""

import asyncio
import json
import multiprocessing
import os
import random
import time
import uuid
from dataclasses import dataclass, field

from bench.model_server import token_stamp

PROBE_SECONDS = 0.01


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


@dataclass
class Tally:
    """What one client process saw; merged across processes by `Tally.merge`."""

    ttfts: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    streams: list[tuple[float, float]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    replies: int = 0
    completed: int = 0
    frames: int = 0
    loop_late: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @staticmethod
    def merge(tallies: list["Tally"]) -> "Tally":
        total = Tally()
        for t in tallies:
            total.ttfts += t.ttfts
            total.lags += t.lags
            total.streams += t.streams
            total.loop_late += t.loop_late
            for kind, n in t.errors.items():
                total.errors[kind] = total.errors.get(kind, 0) + n
            total.replies += t.replies
            total.completed += t.completed
            total.frames += t.frames
            total.cpu_seconds += t.cpu_seconds
        return total


async def _probe(late: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(PROBE_SECONDS)
        late.append(time.monotonic() - before - PROBE_SECONDS)


@dataclass
class Plan:
    """What a client process does once every process is ready."""

    kind: str  # "chat" or "raw"
    server: str  # the product's URL (chat) or the model server's /v1 URL (raw)
    bot: str = ""
    clients: int = 1
    # burst: every client sends `turns` messages, one after another, starting within `spread`.
    # duty: every client writes after exponential gaps of mean `gap` seconds for `duration`.
    mode: str = "burst"
    turns: int = 1
    spread: float = 1.0
    gap: float = 20.0
    duration: float = 60.0
    timeout: float = 120.0
    hold_idle: bool = False  # open the sockets and keep them idle until told to close
    seed: int = 0


class ChatClient:
    def __init__(self, plan: Plan, http) -> None:
        self.plan, self.http, self.ws = plan, http, None

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        async with self.http.post(
            f"{self.plan.server}/widget/{self.plan.bot}/session",
            data=json.dumps({"visitor_id": uuid.uuid4().hex}),
            headers={"Content-Type": "text/plain", "Origin": self.plan.server},
        ) as response:
            response.raise_for_status()
            session = await response.json()
        self.ws = await connect(
            self.plan.server.replace("http", "ws", 1) + session["websocket_path"],
            origin=self.plan.server,
            open_timeout=60,
            ping_interval=None,
            max_size=2**20,
        )
        await self.ws.send(json.dumps({"type": "auth", "token": session["token"], "last_seq": 0}))
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
        if frame["type"] != "ready":
            raise RuntimeError(f"expected ready, got {frame['type']}")

    async def converse(self, tally: Tally) -> bool:
        tally.replies += 1
        text, first_at = "", None
        sent = time.monotonic()
        await self.ws.send(
            json.dumps({"type": "message", "client_id": uuid.uuid4().hex, "text": "Hello?"})
        )
        deadline = sent + self.plan.timeout
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                tally.error("timeout")
                return False
            now = time.monotonic()
            tally.frames += 1
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "assistant.delta":
                if frame["offset"] != len(text):
                    tally.error("gap")
                    return False
                text += frame["text"]
                if first_at is None:
                    first_at = now
                    tally.ttfts.append(now - sent)
                tally.lags.extend(now - token_stamp(t) for t in frame["text"].split())
            elif kind == "assistant.done":
                if frame["text"] != text:
                    tally.error("text differs")
                    return False
                if frame["state"] != "complete":
                    tally.error(f"state {frame['state']}")
                    return False
                if first_at is not None:
                    tally.streams.append((first_at, now))
                tally.completed += 1
                return True
            elif kind == "error":
                tally.error(frame.get("code", "error"))
                return False


async def _raw_reply(plan: Plan, http, tally: Tally) -> None:
    """One reply read the bare way: the request, raw SSE lines, json.loads on each."""
    tally.replies += 1
    sent = time.monotonic()
    first_at = None
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hello?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with http.post(
        f"{plan.server}/chat/completions",
        json=body,
        headers={"Authorization": "Bearer bench"},
    ) as response:
        async for line in response.content:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            now = time.monotonic()
            choices = chunk.get("choices") or ()
            content = choices[0]["delta"].get("content") if choices else None
            if content:
                tally.frames += 1
                if first_at is None:
                    first_at = now
                    tally.ttfts.append(now - sent)
                tally.lags.append(now - token_stamp(content))
    if first_at is not None:
        tally.streams.append((first_at, time.monotonic()))
    tally.completed += 1


async def _client_main(plan: Plan, conn) -> Tally:
    import aiohttp

    tally = Tally()
    rng = random.Random(plan.seed)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None)
    ) as http:
        clients: list[ChatClient] = []
        if plan.kind == "chat":
            gate = asyncio.Semaphore(20)
            clients = [ChatClient(plan, http) for _ in range(plan.clients)]

            async def open_one(client: ChatClient) -> None:
                async with gate:
                    await client.open()

            await asyncio.gather(*(open_one(c) for c in clients))
        conn.send("ready")
        start_at = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        stop = asyncio.Event()
        probe = asyncio.create_task(_probe(tally.loop_late, stop))
        cpu_before = time.process_time()
        if plan.hold_idle:
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        elif plan.mode == "burst":
            await asyncio.gather(
                *(
                    _burst_one(plan, n, c, http, tally)
                    for n, c in enumerate(clients or [None] * plan.clients)
                )
            )
        else:
            end = start_at + plan.duration
            await asyncio.gather(
                *(
                    _duty_one(plan, c, http, tally, rng, end)
                    for c in clients or [None] * plan.clients
                )
            )
        tally.cpu_seconds = time.process_time() - cpu_before
        stop.set()
        await probe
        # Reported before the sockets close: the closing handshakes (and the product's work
        # for them) are not part of what was measured.
        conn.send(tally)
        await asyncio.gather(
            *(client.ws.close() for client in clients if client.ws is not None),
            return_exceptions=True,
        )
    return None


async def _burst_one(plan: Plan, n: int, client, http, tally: Tally) -> None:
    await asyncio.sleep(plan.spread * n / max(1, plan.clients))
    for _ in range(plan.turns):
        try:
            if client is None:
                await _raw_reply(plan, http, tally)
            elif not await client.converse(tally):
                return
        except Exception as error:  # a dropped socket is an error to count, not a crash
            tally.error(type(error).__name__)
            return


async def _duty_one(plan: Plan, client, http, tally: Tally, rng: random.Random, end: float) -> None:
    # The first message comes after a uniform wait, so that the start is not a burst.
    await asyncio.sleep(rng.uniform(0, plan.gap))
    while time.monotonic() < end:
        try:
            if client is None:
                await _raw_reply(plan, http, tally)
            elif not await client.converse(tally):
                return
        except Exception as error:
            tally.error(type(error).__name__)
            return
        # Never past the end: the longest of a thousand exponential gaps (mean 20 s) is about
        # two minutes, which the phase would otherwise wait for, its figures spread over it.
        await asyncio.sleep(min(rng.expovariate(1 / plan.gap), max(0.0, end - time.monotonic())))


def _process_entry(plan: Plan, conn) -> None:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(_client_main(plan, conn))  # sends its tally itself, before closing its sockets
    except Exception as error:
        conn.send(error)


class ClientProcesses:
    """`processes` client processes sharing `plan.clients` clients; start together."""

    def __init__(self, plan: Plan, processes: int) -> None:
        context = multiprocessing.get_context("fork")
        processes = max(1, min(processes, plan.clients))
        self.conns, self.procs = [], []
        for n in range(processes):
            share = plan.clients // processes + (1 if n < plan.clients % processes else 0)
            mine = Plan(**{**plan.__dict__, "clients": share, "seed": plan.seed * 1000 + n})
            parent, child = context.Pipe()
            proc = context.Process(target=_process_entry, args=(mine, child), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)

    def wait_ready(self, timeout: float = 300) -> None:
        for conn in self.conns:
            if not conn.poll(timeout):
                raise RuntimeError("a client process did not get ready in time")
            message = conn.recv()
            if isinstance(message, Exception):
                raise message

    def start(self, delay: float = 0.5) -> float:
        start_at = time.monotonic() + delay
        for conn in self.conns:
            conn.send(start_at)
        return start_at

    def release(self) -> None:
        """Let `hold_idle` clients close their sockets."""
        for conn in self.conns:
            conn.send(None)

    def results(self, timeout: float = 900) -> Tally:
        tallies = []
        for conn in self.conns:
            if not conn.poll(timeout):
                raise RuntimeError("a client process did not finish in time")
            message = conn.recv()
            if isinstance(message, Exception):
                raise message
            tallies.append(message)
        return Tally.merge(tallies)

    def join(self, timeout: float = 60) -> None:
        """Wait for the processes to close their sockets and exit (after `results`)."""
        for proc in self.procs:
            proc.join(timeout=timeout)


def peak_concurrency(streams: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in streams] + [(b, -1) for _, b in streams])
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"
