"""Live chat under load: many websocket clients, each in a conversation, one model server.

    python bench/bench_websocket.py                       # defaults: the issue's targets
    python bench/bench_websocket.py --first 50 --hold 200 --tokens 60   # a quick look

Three processes: the product (uvicorn, the real app, SUPPORTBOT_ENGINE=openai), a lean local
OpenAI-protocol server (bench/model_server.py) that streams every reply at --rate tokens a
second after --first-token-delay, and this one, which drives the clients. Every token the
model server sends is its own emission time. It reports:

- added first-token latency: customer message sent -> first assistant.delta received, minus the
  raw openai SDK's time to first token against the same server with the same concurrency
  (p50/p95 of each, subtracted);
- delta lag: for every token, when the client received it minus when the model server sent
  it: what the product (the SDK, the engine, coalescing, the channel layer, the websocket)
  adds to each token;
- concurrent streams at the peak, frames/s, CPU seconds of each process, server memory per
  open connection, errors and lost frames (offset gaps, text that differs from
  assistant.done, replies that never finished).

Uses DATABASE_URL/REDIS_URL when set (a database of its own is created and dropped), else SQLite
and the in-memory layer. Results: printed, and saved as JSON under bench/results/.
"""

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import openai  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from bench.model_server import token_stamp  # noqa: E402
from tests.e2e.live_server import live_server  # noqa: E402

TARGET_ADDED_P95_MS = 25.0
TARGET_LAG_P95_MS = 100.0
LOST = ("gap", "text differs")  # error kinds that mean a frame was lost or garbled


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def process_tree(pid: int) -> list[int]:
    """The process and its children (uvicorn --workers N serves from N children)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return [pid, *children]


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU time a process (and its children) have used so far."""
    total = 0
    for member in process_tree(pid) if children else [pid]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each process (product, model server, these clients) spent in a phase."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = self.read()

    def read(self) -> dict[str, float]:
        # The clients' process is the parent of the other two: count it alone.
        return {
            name: cpu_seconds(pid, children=name != "clients") for name, pid in self.pids.items()
        }

    def used(self) -> dict[str, float]:
        now = self.read()
        return {name: round(now[name] - self.start[name], 2) for name in now}


def rss_kb(pid: int) -> int:
    """Resident memory of a process and its children."""
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


@dataclass
class Outcome:
    ttft: float | None = None
    lags: list[float] = field(default_factory=list)
    frames: int = 0
    error: str = ""
    streaming: tuple[float, float] | None = None  # first delta -> done (time.monotonic())


class ChatClient:
    """One customer: a session, a socket, a message, the streamed reply checked for gaps."""

    def __init__(self, server: str, bot: str, http: httpx.AsyncClient) -> None:
        self.server, self.bot, self.http = server, bot, http
        self.ws = None

    async def open(self) -> None:
        response = await self.http.post(
            f"/widget/{self.bot}/session",
            content=json.dumps({"visitor_id": uuid.uuid4().hex}),
            headers={"Content-Type": "text/plain"},
        )
        response.raise_for_status()
        session = response.json()
        self.ws = await connect(
            self.server.replace("http", "ws", 1) + session["websocket_path"],
            origin=self.server,
            open_timeout=60,
            ping_interval=None,
            max_size=2**20,
        )
        await self.ws.send(json.dumps({"type": "auth", "token": session["token"], "last_seq": 0}))
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
        if frame["type"] != "ready":
            raise RuntimeError(f"expected ready, got {frame}")

    async def converse(self, *, timeout: float) -> Outcome:
        outcome = Outcome()
        text, first_at = "", None
        sent = time.monotonic()
        await self.ws.send(
            json.dumps({"type": "message", "client_id": uuid.uuid4().hex, "text": "Hello?"})
        )
        deadline = sent + timeout
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                outcome.error = "timeout"
                return outcome
            now = time.monotonic()
            outcome.frames += 1
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "assistant.delta":
                if frame["offset"] != len(text):
                    outcome.error = outcome.error or "gap"
                text += frame["text"]
                if first_at is None:
                    first_at = now
                    outcome.ttft = now - sent
                # Each token is the time the model server sent it (bench/model_server.py).
                outcome.lags.extend(now - token_stamp(t) for t in frame["text"].split())
            elif kind == "assistant.done":
                if frame["text"] != text:
                    outcome.error = outcome.error or "text differs"
                if frame["state"] != "complete":
                    outcome.error = outcome.error or f"state {frame['state']}"
                if first_at is not None:
                    outcome.streaming = (first_at, now)
                return outcome
            elif kind == "error":
                outcome.error = frame["code"]
                return outcome

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def raw_sdk_ttft(base_url: str, count: int, spread: float, turns: int) -> list[float]:
    """The openai SDK alone against the same model server, same concurrency and pacing."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)

    async def one(delay: float) -> list[float]:
        await asyncio.sleep(delay)
        ttfts = []
        for _ in range(turns):
            start = time.perf_counter()
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello?"}], stream=True
            )
            ttft = None
            async for chunk in stream:
                if ttft is None and chunk.choices and chunk.choices[0].delta.content:
                    ttft = time.perf_counter() - start
            ttfts.append(ttft)
        return ttfts

    try:
        runs = await asyncio.gather(*(one(spread * n / count) for n in range(count)))
        return [t for run in runs for t in run]
    finally:
        await client.close()


async def open_clients(server: str, bot: str, count: int, http: httpx.AsyncClient) -> list:
    clients = [ChatClient(server, bot, http) for _ in range(count)]
    gate = asyncio.Semaphore(20)

    async def open_one(client: ChatClient) -> None:
        async with gate:
            await client.open()

    await asyncio.gather(*(open_one(c) for c in clients))
    return clients


async def converse_all(
    clients: list, *, spread: float, timeout: float, turns: int = 1
) -> list[Outcome]:
    """Every client sends `turns` messages, each once the reply to the last one is done."""

    async def one(n: int, client: ChatClient) -> list[Outcome]:
        await asyncio.sleep(spread * n / len(clients))
        outcomes = []
        for _ in range(turns):
            try:
                outcome = await client.converse(timeout=timeout)
            except Exception as error:  # a dropped socket counts as an error, not a crash
                outcome = Outcome(error=type(error).__name__)
            outcomes.append(outcome)
            if outcome.error:
                break
        return outcomes

    runs = await asyncio.gather(*(one(n, c) for n, c in enumerate(clients)))
    return [outcome for run in runs for outcome in run]


def summarize(outcomes: list[Outcome], seconds: float) -> dict:
    lags = [lag for o in outcomes for lag in o.lags]
    errors: dict[str, int] = {}
    for o in outcomes:
        if o.error:
            errors[o.error] = errors.get(o.error, 0) + 1
    frames = sum(o.frames for o in outcomes)
    # The most replies streaming at one moment (between their first delta and their end).
    edges = sorted(
        [(o.streaming[0], 1) for o in outcomes if o.streaming]
        + [(o.streaming[1], -1) for o in outcomes if o.streaming]
    )
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return {
        "streaming_at_peak": peak,
        "replies": len(outcomes),
        "completed": sum(1 for o in outcomes if not o.error),
        "errors": errors,
        "ttft_ms_p50": percentile([o.ttft * 1000 for o in outcomes if o.ttft], 50),
        "ttft_ms_p95": percentile([o.ttft * 1000 for o in outcomes if o.ttft], 95),
        "delta_lag_ms_p50": percentile([x * 1000 for x in lags], 50),
        "delta_lag_ms_p95": percentile([x * 1000 for x in lags], 95),
        "delta_lag_ms_p99": percentile([x * 1000 for x in lags], 99),
        "delta_lag_ms_max": max(lags) * 1000 if lags else float("nan"),
        "tokens": len(lags),
        "frames": frames,
        "frames_per_s": frames / seconds if seconds else 0,
        "seconds": seconds,
    }


async def run(args: argparse.Namespace, server, base_url: str, bot: str, model_pid: int) -> dict:
    results: dict = {"settings": vars(args).copy()}
    pids = {"product": server.pid, "model server": model_pid, "clients": os.getpid()}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Origin": server.url}, limits=limits, timeout=60
    ) as http:
        # Warm up: imports, the database connection, the SDK's client.
        warm = await open_clients(server.url, bot, 2, http)
        await converse_all(warm, spread=0, timeout=60)
        for client in warm:
            await client.close()

        # 1. First-token latency with --first conversations, against the raw SDK.
        raw = [t for t in await raw_sdk_ttft(base_url, args.first, args.spread, args.turns) if t]
        clients = await open_clients(server.url, bot, args.first, http)
        cpu = CpuMeter(pids)
        started = time.perf_counter()
        outcomes = await converse_all(
            clients, spread=args.spread, timeout=args.timeout, turns=args.turns
        )
        first = summarize(outcomes, time.perf_counter() - started)
        first["conversations"] = args.first
        first["cpu_seconds"] = cpu.used()
        for client in clients:
            await client.close()
        first["raw_sdk_ttft_ms_p50"] = percentile([t * 1000 for t in raw], 50)
        first["raw_sdk_ttft_ms_p95"] = percentile([t * 1000 for t in raw], 95)
        first["added_ttft_ms_p50"] = first["ttft_ms_p50"] - first["raw_sdk_ttft_ms_p50"]
        first["added_ttft_ms_p95"] = first["ttft_ms_p95"] - first["raw_sdk_ttft_ms_p95"]
        results["first_token"] = first
        await asyncio.sleep(1)

        # 2. Hold --hold conversations open and streaming at once.
        if not args.hold:
            return results
        before = rss_kb(server.pid)
        clients = await open_clients(server.url, bot, args.hold, http)
        await asyncio.sleep(1)
        idle = rss_kb(server.pid)
        cpu = CpuMeter(pids)
        started = time.perf_counter()
        outcomes = await converse_all(clients, spread=args.spread, timeout=args.timeout)
        hold = summarize(outcomes, time.perf_counter() - started)
        hold["conversations"] = args.hold
        hold["cpu_seconds"] = cpu.used()
        hold["model_server"] = (await http.get(base_url.removesuffix("/v1") + "/stats")).json()
        hold["server_rss_mb_before"] = before / 1024
        hold["server_rss_mb_idle_connected"] = idle / 1024
        hold["server_rss_mb_after_streaming"] = rss_kb(server.pid) / 1024
        hold["memory_kb_per_connection"] = (idle - before) / args.hold
        for client in clients:
            await client.close()
        results["hold"] = hold
    return results


def cpu_text(phase: dict) -> str:
    return ", ".join(f"{name} {used:.1f}" for name, used in phase["cpu_seconds"].items())


def report(results: dict) -> str:
    first, hold = results["first_token"], results.get("hold")
    s = results["settings"]

    def verdict(ok: bool) -> str:
        return "meets target" if ok else "MISSES target"

    # A starved baseline (its p95 far above its p50: the client process could not keep up)
    # makes the p95 difference meaningless, even negative: the p50 difference must pass too.
    added_ok = max(first["added_ttft_ms_p50"], first["added_ttft_ms_p95"]) < TARGET_ADDED_P95_MS
    starved = (
        "; raw SDK baseline starved, p95 difference not meaningful"
        if first["raw_sdk_ttft_ms_p95"] > 2 * first["raw_sdk_ttft_ms_p50"]
        else ""
    )
    lines = [
        f"model server: {s['rate']:g} tokens/s, first token after {s['first_token_delay']:g} s, "
        f"{s['tokens']} tokens a reply; starts spread over {s['spread']:g} s",
        f"[{first['conversations']} conversations, {s['turns']} messages each: "
        f"{first['streaming_at_peak']} streaming at once at the peak] raw SDK TTFT p50/p95 "
        f"{first['raw_sdk_ttft_ms_p50']:.1f}/{first['raw_sdk_ttft_ms_p95']:.1f} ms; "
        f"product {first['ttft_ms_p50']:.1f}/{first['ttft_ms_p95']:.1f} ms",
        f"  added first-token latency p50 {first['added_ttft_ms_p50']:.1f} ms, "
        f"p95 {first['added_ttft_ms_p95']:.1f} ms (target p95 < {TARGET_ADDED_P95_MS:g} ms: "
        f"{verdict(added_ok)}{starved}); "
        f"delta lag p95 {first['delta_lag_ms_p95']:.1f} ms; errors {first['errors'] or 0}",
        f"  CPU seconds: {cpu_text(first)}",
    ]
    if hold is None:
        return "\n".join(lines)
    lost = hold["replies"] - hold["completed"]
    lines += [
        f"[{hold['conversations']} conversations] completed {hold['completed']}, "
        f"errors {hold['errors'] or 0}",
        f"  delta lag (model server sent -> client got, every token) p50/p95/p99/max "
        f"{hold['delta_lag_ms_p50']:.1f}/{hold['delta_lag_ms_p95']:.1f}/"
        f"{hold['delta_lag_ms_p99']:.1f}/{hold['delta_lag_ms_max']:.1f} ms "
        f"(target p95 < {TARGET_LAG_P95_MS:g} ms, no lost "
        f"frames: {verdict(hold['delta_lag_ms_p95'] < TARGET_LAG_P95_MS and not lost)})",
        f"  {hold['streaming_at_peak']} streaming at once at the peak; first token p50/p95 "
        f"{hold['ttft_ms_p50']:.1f}/{hold['ttft_ms_p95']:.1f} ms; "
        f"{hold['frames_per_s']:.0f} frames/s over {hold['seconds']:.1f} s",
        f"  model server ticker late p95 {hold['model_server']['tick_late_ms_p95']:.1f} ms "
        f"(max {hold['model_server']['tick_late_ms_max']:.1f}; its tick is 5 ms): "
        "how far its own pacing slipped",
        f"  CPU seconds: {cpu_text(hold)}",
        f"  server memory {hold['server_rss_mb_before']:.0f} MB -> "
        f"{hold['server_rss_mb_idle_connected']:.0f} MB with every socket open "
        f"({hold['memory_kb_per_connection']:.0f} KB a connection) -> "
        f"{hold['server_rss_mb_after_streaming']:.0f} MB after streaming",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=100, help="conversations, TTFT phase")
    parser.add_argument("--hold", type=int, default=1000, help="conversations, hold phase")
    parser.add_argument("--tokens", type=int, default=300, help="tokens a reply")
    parser.add_argument("--rate", type=float, default=60.0, help="tokens a second")
    parser.add_argument("--first-token-delay", type=float, default=0.2, help="seconds")
    parser.add_argument(
        "--spread",
        type=float,
        default=5.0,
        help="seconds over which the conversations start (default: one reply's length)",
    )
    parser.add_argument(
        "--turns",
        type=int,
        default=3,
        help="messages each conversation of the first-token phase sends, one after the other",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a reply may take")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn processes (more than one needs REDIS_URL)"
    )
    args = parser.parse_args()
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        parser.error("--workers above 1 needs REDIS_URL: the processes share the Redis layer")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    model = subprocess.Popen(
        [
            *(sys.executable, str(ROOT / "bench" / "model_server.py")),
            *("--rate", str(args.rate), "--tokens", str(args.tokens)),
            *("--first-token-delay", str(args.first_token_delay)),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        base_url = model.stdout.readline().strip()
        with (
            tempfile.TemporaryDirectory() as tmp,
            live_server(
                Path(tmp),
                server_args=("--workers", str(args.workers)) if args.workers > 1 else (),
                DEBUG="0",
                SUPPORTBOT_ENGINE="openai",
                OPENAI_BASE_URL=base_url,
                OPENAI_API_KEY="bench",
                OPENAI_MAX_RETRIES="0",
                OPENAI_TIMEOUT="120",
                # Under ASGI every sync view runs in a thread of its own: persistent connections
                # would pile up past PostgreSQL's max_connections, short-lived ones cost a
                # connect per call. A pool of open ones (ignored on SQLite).
                DB_POOL_MAX_SIZE=os.environ.get("DB_POOL_MAX_SIZE", "24"),
                LOG_LEVEL="ERROR",
                # Every client of the benchmark comes from 127.0.0.1.
                SUPPORTBOT_RATE_PER_IP_PER_MINUTE="10000000",
            ) as server,
        ):
            bot = re.search(r"pk_[\w-]+", server.manage("seed_demo")).group(0)
            try:
                import uvloop

                runner = uvloop.run
            except ImportError:
                runner = asyncio.run
            results = runner(run(args, server, base_url, bot, model.pid))
            results["database"] = "postgresql" if "DATABASE_URL" in server.env else "sqlite"
            results["channel_layer"] = "redis" if os.environ.get("REDIS_URL") else "in-memory"
            results["cpus"] = os.cpu_count()
    finally:
        model.terminate()
        model.wait(timeout=10)
    text = report(results)
    print(
        f"database {results['database']}, channel layer {results['channel_layer']}, "
        f"{args.workers} uvicorn process(es), {results['cpus']} CPUs"
    )
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"websocket-{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
    lost = {
        phase: sum(results[phase]["errors"].get(kind, 0) for kind in LOST)
        for phase in ("first_token", "hold")
        if phase in results
    }
    unfinished = {
        phase: results[phase]["replies"] - results[phase]["completed"]
        for phase in ("first_token", "hold")
        if phase in results
    }
    print(f"lost frames (offset gaps, text differing from assistant.done): {lost}")
    print(f"replies not completed: {unfinished}")
    if any(lost.values()) or any(unfinished.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
