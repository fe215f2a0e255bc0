"""Live chat under load, judged against the targets only where the measurement is valid.

    python bench/bench_websocket.py                 # every phase at the targets' sizes
    python bench/bench_websocket.py --quick         # small sizes: a look in about a minute

Processes: the product (uvicorn, the real app, SUPPORTBOT_ENGINE=openai), a lean local
OpenAI-protocol server (bench/model_server.py: replies of --tokens tokens at --rate tokens a
second after --first-token-delay, each token stamped with its emission time), and client
processes (bench/load.py) that drive the product from docs/protocol.md alone, or read the
model server the bare way (raw SSE lines, json.loads) for the baseline.

Phases, each with the load average beside it:
1. baseline: bare readers, few and then more, in one process: their first-token time (the
   reference for "added" latency) and their capacity (streams at p95 delta lag <= 100 ms);
2. capacity: the product with more and more streams at once, until p95 delta lag passes 100 ms;
3. steady streaming (--phases steady, with long --tokens): --levels' first count of streams
   at once, and the product's CPU seconds over a window in the middle of the streams, where no
   reply starts or ends: CPU per streamed token with no per-reply cost in it;
4. duty cycle: --duty conversations open, each customer writing after exponential gaps of mean
   --gap seconds for --duration seconds: added first-token latency, delta lag, replies a
   second, CPU per reply;
5. memory: --idle authenticated sockets held open, after a warm-up.

A phase is valid only if nothing but the product limited it: the model server's ticker kept
its pace, every client process's loop woke on time, and the baseline was not starved. A target
is judged ("meets"/"MISSES") only on a valid measurement, otherwise "not judged" and why. The
summary table is printed last; the raw figures are saved as JSON under bench/results/.
Uses DATABASE_URL/REDIS_URL when set (a database of its own is created and dropped), else SQLite
and the in-memory layer.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    ClientProcesses,
    Plan,
    Tally,
    load_average,
    peak_concurrency,
    percentile,
)
from tests.e2e.live_server import live_server  # noqa: E402

TARGET_ADDED_TTFT_P50_MS = 50.0
TARGET_ADDED_TTFT_P95_MS = 150.0
TARGET_LAG_P95_MS = 100.0
TARGET_STREAMS_PER_PROCESS = 250
TARGET_CPU_PER_REPLY_MS = 15.0
TARGET_SOCKET_KB = 64.0
# Validity: how late a client loop or the model server's ticker may run, and how much the
# baseline's first token may spread, before a figure says more about the harness than the product.
MAX_CLIENT_LOOP_LATE_P95_MS = 20.0
MAX_TICK_LATE_P95_MS = 10.0
MAX_BASELINE_SPREAD_MS = 15.0
LOST = ("gap", "text differs")


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


def _stat_cpu(stat: str) -> float:
    """User + system CPU seconds from a /proc/<pid>/stat line."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its children have used so far."""
    total = 0.0
    for member in process_tree(pid):
        try:
            total += _stat_cpu(Path(f"/proc/{member}/stat").read_text())
        except OSError:
            continue
    return total


def service_cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of every PostgreSQL and Redis server process on the machine (the
    services are shared: quiet machines only give a per-reply figure worth quoting)."""
    totals = {"postgresql": 0.0, "redis": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        kind = "postgresql" if name.startswith("postgres") else "redis" if "redis" in name else ""
        if kind:
            totals[kind] += _stat_cpu(text)
    return totals


def rss_kb(pid: int) -> int:
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


class ModelServer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.process = subprocess.Popen(
            [
                *(sys.executable, str(ROOT / "bench" / "model_server.py")),
                *("--rate", str(args.rate), "--tokens", str(args.tokens)),
                *("--first-token-delay", str(args.first_token_delay)),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.url = self.process.stdout.readline().strip()

    def stats(self, *, reset: bool = False) -> dict:
        root = self.url.removesuffix("/v1")
        request = urllib.request.Request(
            root + ("/stats/reset" if reset else "/stats"), method="POST" if reset else "GET"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Phase:
    """One measured run of client processes, with its validity checks."""

    def __init__(self, name: str, model: ModelServer, product_pid: int | None) -> None:
        self.name, self.model, self.product_pid = name, model, product_pid
        self.result: dict = {"phase": name}

    def run(self, plan: Plan, processes: int, *, hold: float = 0.0) -> Tally:
        clients = ClientProcesses(plan, processes)
        clients.wait_ready()
        self.model.stats(reset=True)
        self.result["load_before"] = load_average()
        cpu = cpu_seconds(self.product_pid) if self.product_pid else 0.0
        services, model_cpu = service_cpu_seconds(), cpu_seconds(self.model.process.pid)
        started = clients.start()
        if hold:
            time.sleep(hold)
            self.result["rss_kb_held"] = rss_kb(self.product_pid)
            clients.release()
        tally = clients.results()
        seconds = time.monotonic() - started
        self.result["product_cpu_seconds"] = (
            cpu_seconds(self.product_pid) - cpu if self.product_pid else 0.0
        )
        for kind, seconds_used in service_cpu_seconds().items():
            self.result[f"{kind}_cpu_seconds"] = seconds_used - services[kind]
        self.result["model_server_cpu_seconds"] = cpu_seconds(self.model.process.pid) - model_cpu
        self.result["load_after"] = load_average()
        self.result["model_server"] = self.model.stats()
        self.result.update(summarize(tally, seconds, processes))
        clients.join()
        return tally

    def invalid_reasons(self) -> list[str]:
        reasons = []
        r = self.result
        if r["client_loop_late_ms_p95"] > MAX_CLIENT_LOOP_LATE_P95_MS:
            reasons.append(
                f"client processes starved (loop late p95 {r['client_loop_late_ms_p95']:.0f} ms "
                f"> {MAX_CLIENT_LOOP_LATE_P95_MS:g})"
            )
        if r["model_server"]["tick_late_ms_p95"] > MAX_TICK_LATE_P95_MS:
            reasons.append(
                f"model server behind (tick late p95 {r['model_server']['tick_late_ms_p95']:.0f}"
                f" ms > {MAX_TICK_LATE_P95_MS:g})"
            )
        return reasons


def summarize(tally: Tally, seconds: float, processes: int) -> dict:
    ms = [x * 1000 for x in tally.lags]
    ttft = [x * 1000 for x in tally.ttfts]
    return {
        "replies": tally.replies,
        "completed": tally.completed,
        "errors": tally.errors,
        "lost_frames": sum(tally.errors.get(k, 0) for k in LOST),
        "streams_at_peak": peak_concurrency(tally.streams),
        "ttft_ms_p50": percentile(ttft, 50),
        "ttft_ms_p95": percentile(ttft, 95),
        "delta_lag_ms_p50": percentile(ms, 50),
        "delta_lag_ms_p95": percentile(ms, 95),
        "delta_lag_ms_max": max(ms, default=float("nan")),
        "frames": tally.frames,
        "seconds": seconds,
        "replies_per_s": tally.completed / seconds if seconds else 0.0,
        "client_processes": processes,
        "client_cpu_seconds": tally.cpu_seconds,
        "client_loop_late_ms_p95": percentile([x * 1000 for x in tally.loop_late], 95),
    }


def baseline(args, model: ModelServer) -> dict:
    """The bare reader: its first-token time at low load, and its capacity in one process."""
    phase = Phase("baseline first token", model, None)
    phase.run(
        Plan(kind="raw", server=model.url, clients=args.baseline_clients, spread=1.0, turns=3), 1
    )
    first = phase.result
    first["invalid"] = phase.invalid_reasons()
    spread = first["ttft_ms_p95"] - first["ttft_ms_p50"]
    if spread > MAX_BASELINE_SPREAD_MS:
        first["invalid"].append(
            f"baseline first token spread p95-p50 {spread:.0f} ms > {MAX_BASELINE_SPREAD_MS:g}"
        )
    levels = []
    for streams in args.levels:
        phase = Phase(f"baseline {streams} streams", model, None)
        phase.run(Plan(kind="raw", server=model.url, clients=streams, spread=1.0), 1)
        r = phase.result
        r["streams"] = streams
        # The reader is the thing measured here: only the model server must keep pace.
        r["invalid"] = [x for x in phase.invalid_reasons() if "model server" in x]
        levels.append(r)
        flag = " INVALID: " + "; ".join(r["invalid"]) if r["invalid"] else ""
        print(
            f"  baseline {streams:5d} streams: delta lag p95 {r['delta_lag_ms_p95']:8.1f} ms "
            f"(load {r['load_after']}){flag}",
            flush=True,
        )
        if r["delta_lag_ms_p95"] > TARGET_LAG_P95_MS or r["invalid"]:
            break
    return {"first_token": first, "levels": levels, "capacity": capacity_of(levels)}


def capacity_of(levels: list[dict]) -> dict:
    passed = [
        lv["streams"]
        for lv in levels
        if not lv["invalid"]
        and lv["delta_lag_ms_p95"] <= TARGET_LAG_P95_MS
        and not lv["lost_frames"]
    ]
    failed = [lv for lv in levels if lv["delta_lag_ms_p95"] > TARGET_LAG_P95_MS]
    return {
        "streams": max(passed, default=0),
        # Valid only if the search ended on a valid level past the limit (or the top level).
        "valid": bool(levels) and not levels[-1]["invalid"],
        "bounded": bool(failed),
    }


def product_capacity(args, model: ModelServer, server) -> dict:
    levels = []
    for streams in args.levels:
        phase = Phase(f"product {streams} streams", model, server.pid)
        phase.run(
            Plan(kind="chat", server=server.url, bot=server.bot, clients=streams, spread=1.0),
            args.client_processes,
        )
        r = phase.result
        r["streams"] = streams
        r["invalid"] = phase.invalid_reasons()
        levels.append(r)
        print(
            f"  product  {streams:5d} streams: delta lag p95 {r['delta_lag_ms_p95']:8.1f} ms, "
            f"{r['streams_at_peak']} at the peak, CPU/reply "
            f"{1000 * r['product_cpu_seconds'] / max(1, r['completed']):.1f} ms, CPU/token "
            f"{1e6 * r['product_cpu_seconds'] / max(1, r['completed'] * args.tokens):.0f} µs "
            f"(load {r['load_after']})"
            f"{' INVALID: ' + '; '.join(r['invalid']) if r['invalid'] else ''}",
            flush=True,
        )
        if r["delta_lag_ms_p95"] > TARGET_LAG_P95_MS or r["invalid"]:
            break
    return {"levels": levels, "capacity": capacity_of(levels)}


def steady_stream(args, model: ModelServer, server) -> dict:
    """CPU per streamed token with every stream mid-reply: no setup or final write inside."""
    streams = args.levels[0]
    stream_seconds = args.first_token_delay + args.tokens / args.rate
    phase = Phase(f"steady {streams} streams", model, server.pid)
    window: dict = {}

    def sample() -> None:
        # The window opens a second after the model server got the last reply's request (every
        # reply's setup is done by then) and closes a second before the first reply ends.
        served = model.stats()["streams_served"]
        first = None
        while True:
            now_served = model.stats()["streams_served"] - served
            if first is None and now_served:
                first = time.monotonic()
            if now_served >= streams:
                break
            time.sleep(0.05)
        time.sleep(1.0)
        closes = first + stream_seconds - 1.0
        if closes - time.monotonic() < 3.0:
            window["error"] = "the replies' setup took too long: try more --tokens"
            return
        window["cpu"], window["at"] = cpu_seconds(server.pid), time.monotonic()
        time.sleep(closes - time.monotonic())
        window["cpu"] = cpu_seconds(server.pid) - window["cpu"]
        window["seconds"] = time.monotonic() - window["at"]

    sampler = threading.Thread(target=sample)
    sampler.start()
    phase.run(
        Plan(kind="chat", server=server.url, bot=server.bot, clients=streams, spread=1.0),
        args.client_processes,
    )
    sampler.join()
    if "error" in window:
        raise SystemExit(window["error"])
    r = phase.result
    r["streams"] = streams
    r["invalid"] = phase.invalid_reasons()
    # The bare reader's CPU per token at the same count, in one client process, for reference.
    bare = Phase(f"bare reader {streams} streams", model, None)
    bare.run(Plan(kind="raw", server=model.url, clients=streams, spread=1.0), 1)
    r["bare_cpu_us_per_token"] = (
        1e6 * bare.result["client_cpu_seconds"] / max(1, bare.result["frames"])
    )
    # The model server's pace: what every stream was sent in the window.
    tokens = streams * args.rate * window["seconds"]
    r["window_seconds"] = window["seconds"]
    r["window_cpu_seconds"] = window["cpu"]
    r["cpu_us_per_token"] = 1e6 * window["cpu"] / tokens
    r["cpu_share_of_a_core"] = window["cpu"] / window["seconds"]
    print(
        f"  steady   {streams:5d} streams: {r['cpu_us_per_token']:.1f} µs CPU per streamed token "
        f"({r['cpu_share_of_a_core']:.2f} of a core over {window['seconds']:.1f} s mid-stream), "
        f"delta lag p95 {r['delta_lag_ms_p95']:.1f} ms, {r['frames']} frames; the bare reader "
        f"{r['bare_cpu_us_per_token']:.1f} µs a token, whole run "
        f"(load {r['load_after']})"
        f"{' INVALID: ' + '; '.join(r['invalid']) if r['invalid'] else ''}",
        flush=True,
    )
    return r


def duty_cycle(args, model: ModelServer, server, reference_ms: float) -> dict:
    phase = Phase("duty cycle", model, server.pid)
    phase.run(
        Plan(
            kind="chat",
            server=server.url,
            bot=server.bot,
            clients=args.duty,
            mode="duty",
            gap=args.gap,
            duration=args.duration,
        ),
        args.client_processes,
    )
    r = phase.result
    r["conversations"] = args.duty
    r["invalid"] = phase.invalid_reasons()
    r["added_ttft_ms_p50"] = r["ttft_ms_p50"] - reference_ms
    r["added_ttft_ms_p95"] = r["ttft_ms_p95"] - reference_ms
    r["cpu_ms_per_reply"] = 1000 * r["product_cpu_seconds"] / max(1, r["completed"])
    for part in ("postgresql", "redis", "model_server", "client"):
        r[f"{part}_cpu_ms_per_reply"] = 1000 * r[f"{part}_cpu_seconds"] / max(1, r["completed"])
    return r


def idle_memory(args, model: ModelServer, server) -> dict:
    # Warm-up: open and close a few hundred sockets, so that allocator pools and imports are
    # paid for before the "before" figure.
    warm = Phase("memory warm-up", model, server.pid)
    warm.run(
        Plan(kind="chat", server=server.url, bot=server.bot, clients=200, hold_idle=True),
        args.client_processes,
        hold=0.5,
    )
    time.sleep(1)
    before = rss_kb(server.pid)
    phase = Phase("memory", model, server.pid)
    phase.run(
        Plan(kind="chat", server=server.url, bot=server.bot, clients=args.idle, hold_idle=True),
        args.client_processes,
        hold=2.0,
    )
    r = phase.result
    r["sockets"] = args.idle
    r["rss_mb_before"] = before / 1024
    r["rss_mb_held"] = r["rss_kb_held"] / 1024
    r["kb_per_socket"] = (r["rss_kb_held"] - before) / args.idle
    r["invalid"] = [] if r["completed"] == 0 and not r["errors"] else [f"errors {r['errors']}"]
    return r


def verdict(ok: bool, invalid: list[str]) -> str:
    if invalid:
        return "not judged: " + "; ".join(invalid)
    return "meets" if ok else "MISSES"


def table(results: dict, args) -> list[tuple[str, str, str]]:
    rows = []
    base = results.get("baseline")
    base_invalid = base["first_token"]["invalid"] if base else []
    duty = results.get("duty")
    if duty:
        invalid = duty["invalid"] + [f"baseline: {x}" for x in base_invalid]
        lost = duty["lost_frames"] or duty["completed"] < duty["replies"]
        rows += [
            (
                f"duty cycle {duty['conversations']} conversations: added TTFT p50 <= "
                f"{TARGET_ADDED_TTFT_P50_MS:g} ms",
                f"{duty['added_ttft_ms_p50']:.1f} ms",
                verdict(duty["added_ttft_ms_p50"] <= TARGET_ADDED_TTFT_P50_MS, invalid),
            ),
            (
                f"duty cycle: added TTFT p95 <= {TARGET_ADDED_TTFT_P95_MS:g} ms",
                f"{duty['added_ttft_ms_p95']:.1f} ms",
                verdict(duty["added_ttft_ms_p95"] <= TARGET_ADDED_TTFT_P95_MS, invalid),
            ),
            (
                f"duty cycle: delta lag p95 <= {TARGET_LAG_P95_MS:g} ms",
                f"{duty['delta_lag_ms_p95']:.1f} ms",
                verdict(duty["delta_lag_ms_p95"] <= TARGET_LAG_P95_MS, duty["invalid"]),
            ),
            (
                "duty cycle: 0 lost frames, every reply finished",
                f"{duty['lost_frames']} lost, {duty['completed']}/{duty['replies']} finished",
                verdict(not lost, []),
            ),
            (
                f"CPU per {args.tokens}-token reply <= {TARGET_CPU_PER_REPLY_MS:g} ms",
                f"{duty['cpu_ms_per_reply']:.1f} ms "
                f"({1000 * duty['cpu_ms_per_reply'] / args.tokens:.0f} µs/token, "
                f"{duty['replies_per_s']:.1f} replies/s)",
                # CPU seconds are the product's own, but not independent of the load: a product
                # behind schedule merges more tokens into each frame and spends less a reply.
                verdict(
                    duty["cpu_ms_per_reply"] <= TARGET_CPU_PER_REPLY_MS,
                    duty["invalid"] + ([] if duty["completed"] else ["no reply finished"]),
                ),
            ),
        ]
    cap = results.get("capacity")
    if cap:
        found = cap["capacity"]
        per_process = found["streams"] / args.workers
        invalid = [] if found["valid"] else ["the search ended on an invalid level"]
        if not found["bounded"] and per_process < TARGET_STREAMS_PER_PROCESS:
            invalid.append("every level tried passed: try higher --levels")
        bound = "" if found["bounded"] else "+ (every level passed)"
        rows.append(
            (
                f"streams per process at p95 delta lag <= {TARGET_LAG_P95_MS:g} ms >= "
                f"{TARGET_STREAMS_PER_PROCESS}",
                # No level passed: fewer than the first level tried, not zero.
                f"{per_process:.0f}{bound}"
                if found["streams"]
                else f"< {cap['levels'][0]['streams'] // args.workers}",
                verdict(per_process >= TARGET_STREAMS_PER_PROCESS, invalid),
            )
        )
        bare = base["capacity"]
        if bare["streams"]:
            ratio = per_process / bare["streams"]
            if not bare["valid"]:
                invalid = [*invalid, "baseline invalid"]
            if not bare["bounded"] and ratio < 0.5:
                invalid = [*invalid, "the bare reader passed every level: its capacity is higher"]
            if not found["bounded"] and ratio >= 0.5 and bare["bounded"]:
                invalid = []  # a lower bound that already passes
            if not found["bounded"] and not bare["bounded"]:
                # Both passed every level: two lower bounds give no ratio.
                invalid = [*invalid, "both passed every level tried: try higher --levels"]
            rows.append(
                (
                    "streams per process >= 0.5 x the bare reader's",
                    f"{ratio:.2f} ({per_process:.0f}{bound[:1]} / {bare['streams']}"
                    f"{'' if bare['bounded'] else '+'})",
                    verdict(ratio >= 0.5 and bare["bounded"], invalid),
                )
            )
    mem = results.get("memory")
    if mem:
        rows.append(
            (
                f"memory per idle socket at {mem['sockets']} <= {TARGET_SOCKET_KB:g} KB",
                f"{mem['kb_per_socket']:.0f} KB",
                verdict(mem["kb_per_socket"] <= TARGET_SOCKET_KB, mem["invalid"]),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=150, help="tokens a reply")
    parser.add_argument("--rate", type=float, default=60.0, help="tokens a second")
    parser.add_argument("--first-token-delay", type=float, default=0.2, help="seconds")
    parser.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[50, 100, 150, 250, 400, 600],
        help="concurrent streams tried, in order, for the capacity phases",
    )
    parser.add_argument("--baseline-clients", type=int, default=20)
    parser.add_argument("--duty", type=int, default=500, help="conversations, duty cycle")
    parser.add_argument("--gap", type=float, default=20.0, help="mean seconds between messages")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of duty cycle")
    parser.add_argument("--idle", type=int, default=2000, help="idle sockets, memory phase")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn processes (more than one needs REDIS_URL)"
    )
    parser.add_argument(
        "--phases", default="capacity,duty,memory", help="which product phases to run"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    parser.add_argument("--out", help="where to save the JSON (default: bench/results/)")
    args = parser.parse_args()
    if args.quick:
        args.levels, args.duty, args.duration, args.idle = [25, 50], 50, 15.0, 200
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        parser.error("--workers above 1 needs REDIS_URL: the processes share the Redis layer")
    phases = set(args.phases.split(","))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    results: dict = {"settings": vars(args).copy(), "cpus": os.cpu_count()}
    results["load_at_start"] = load_average()
    print(
        f"{os.cpu_count()} CPUs, load average (1/5 min) at start {results['load_at_start']}; "
        f"replies of {args.tokens} tokens at {args.rate:g} tokens/s after "
        f"{args.first_token_delay:g} s",
        flush=True,
    )
    model = ModelServer(args)
    try:
        reference = float("nan")
        if phases & {"capacity", "duty"}:  # the references these phases are judged against
            results["baseline"] = baseline(args, model)
            reference = results["baseline"]["first_token"]["ttft_ms_p50"]
        with (
            tempfile.TemporaryDirectory() as tmp,
            live_server(
                Path(tmp),
                server_args=("--workers", str(args.workers)) if args.workers > 1 else (),
                DEBUG="0",
                SUPPORTBOT_ENGINE="openai",
                OPENAI_BASE_URL=model.url,
                OPENAI_API_KEY="bench",
                OPENAI_MAX_RETRIES="0",
                OPENAI_TIMEOUT="120",
                LOG_LEVEL="ERROR",
                SUPPORTBOT_RATE_PER_IP_PER_MINUTE="10000000",  # every client is 127.0.0.1
            ) as live,
        ):
            bot = re.search(r"pk_[\w-]+", live.manage("seed_demo")).group(0)
            server = types.SimpleNamespace(url=live.url, pid=live.pid, bot=bot)
            results["database"] = "postgresql" if "DATABASE_URL" in live.env else "sqlite"
            results["channel_layer"] = "redis" if os.environ.get("REDIS_URL") else "in-memory"
            print(
                f"product: {results['database']}, {results['channel_layer']} layer, "
                f"{args.workers} uvicorn process(es)",
                flush=True,
            )
            # Warm up: imports, connections, the SDK's client.
            Phase("warm-up", model, server.pid).run(
                Plan(
                    kind="chat",
                    server=server.url,
                    bot=server.bot,
                    clients=4,
                    turns=2 if args.tokens <= 300 else 1,
                ),
                1,
            )
            if "capacity" in phases:
                results["capacity"] = product_capacity(args, model, server)
            if "steady" in phases:
                results["steady"] = steady_stream(args, model, server)
            if "duty" in phases:
                results["duty"] = duty_cycle(args, model, server, reference)
                d = results["duty"]
                print(
                    f"  duty cycle {d['conversations']} conversations for {args.duration:g} s: "
                    f"{d['completed']} replies, TTFT p50/p95 {d['ttft_ms_p50']:.1f}/"
                    f"{d['ttft_ms_p95']:.1f} ms (bare reader p50 {reference:.1f}), delta lag "
                    f"p95 {d['delta_lag_ms_p95']:.1f} ms (load {d['load_after']})\n"
                    f"  CPU per reply: product {d['cpu_ms_per_reply']:.1f} ms, PostgreSQL "
                    f"{d['postgresql_cpu_ms_per_reply']:.1f} ms, Redis "
                    f"{d['redis_cpu_ms_per_reply']:.1f} ms; harness: model server "
                    f"{d['model_server_cpu_ms_per_reply']:.1f} ms, clients "
                    f"{d['client_cpu_ms_per_reply']:.1f} ms",
                    flush=True,
                )
            if "memory" in phases:
                results["memory"] = idle_memory(args, model, server)
    finally:
        model.stop()
    results["load_at_end"] = load_average()

    rows = table(results, args)
    steady = results.get("steady")
    if steady:
        rows.append(
            (
                f"CPU per streamed token, {steady['streams']} streams mid-reply",
                f"{steady['cpu_us_per_token']:.1f} µs (bare reader "
                f"{steady['bare_cpu_us_per_token']:.1f})",
                "measured (no target)",
            )
        )
    width = max(len(r[0]) for r in rows) if rows else 10
    print(
        f"\nSummary (load average at start {results['load_at_start']}, "
        f"at end {results['load_at_end']}):"
    )
    for target, measured, judged in rows:
        print(f"  {target:<{width}}  {measured:<28}  {judged}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    saved = Path(args.out) if args.out else out / f"websocket-{stamp}.json"
    saved.write_text(json.dumps(results, indent=2, default=str))
    duty = results.get("duty")
    if duty and (duty["lost_frames"] or duty["completed"] < duty["replies"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
