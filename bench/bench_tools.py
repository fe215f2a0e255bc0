"""The tool round trip on Celery + Redis + PostgreSQL, from the row and from the customer's side.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_x REDIS_URL=redis://127.0.0.1:6379/4 \
        python bench/bench_tools.py --replies 50 --rounds 3 --code /work/main --code .

Processes: the product (uvicorn, SUPPORTBOT_ENGINE=openai, CELERY_TASK_ALWAYS_EAGER=0), a real
`celery worker` on the "tools" queue as the tree's supportbot/Procfile starts it (concurrency
2), both from the code tree given by --code (several trees are
measured in turn, round after round, on one database: main against a branch in the same run),
and in this process the scriptable OpenAI-protocol server (tests/openai_server.py: the model
calls search_faq first, then answers in one line) and one customer speaking docs/protocol.md.

Per reply, one search_faq run; the figures (p50/p95 over the replies of a tree, all its rounds):
- created -> finished: the ToolRun row's created_at to finished_at (the issue's figure);
- client started -> finished: `tool.started` to `tool.finished` as the customer's socket got them;
and the parts, from the row's timestamps and the client's clock (one machine, one wall clock):
- queue wait: created_at -> started_at (publish, broker, worker pick-up, claim);
- run: started_at -> finished_at, of which tool: duration_ms (what the tool function took);
- delivery: finished_at -> `tool.finished` at the client.
Medians of each round are printed too, with the load average, so a noisy round shows.

A tree that timestamps its steps (conversations/tools/trace.py, SUPPORTBOT_TOOL_TRACE) gets a
step-by-step breakdown as well: the median gap between consecutive steps of one run, from the
customer's `tool.started` to its `tool.finished`, over all its rounds.
Every process gets DB_POOL_MAX_SIZE=20, as `make prod` does (--env overrides it). A database of
its own is created next to DATABASE_URL's for each tree and dropped afterwards.
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import load_average, percentile  # noqa: E402
from tests.asgi_server import _wait_until_up, free_port  # noqa: E402
from tests.e2e.live_server import _postgres_database, server_env  # noqa: E402
from tests.openai_server import OpenAIServer, Reply, ToolCallSpec  # noqa: E402

QUESTION = "How long do I have to return an item?"
MESSAGES_PER_CUSTOMER = 8
FIGURES = ("created_finished", "client", "queue_wait", "run", "tool", "delivery")
# The steps of one run in order: (trace key kind, step, what the gap up to it is).
STEPS = (
    ("client", "tool.started", ""),
    ("call", "await", "engine asks for the run (after tool.started went out)"),
    ("row", "created", "created_at (validated, being inserted)"),
    ("run", "prepared", "row committed, prepare returns"),
    ("run", "published", "task published to the broker"),
    ("run", "received", "task body starts on the worker"),
    ("row", "started", "started_at"),
    ("run", "claimed", "claimed and loaded"),
    ("run", "tool_start", "tool called"),
    ("run", "tool_end", "tool returned"),
    ("row", "finished", "finished_at"),
    ("run", "performed", "finish written"),
    ("run", "reported", "report sent to the waiting process"),
    ("run", "woken", "waiting process reads the report"),
    ("call", "outcome", "outcome handed to the engine"),
    ("client", "tool.finished", "tool.finished at the customer's socket"),
)
LABELS = {
    "created_finished": "ToolRun created -> finished",
    "client": "client tool.started -> tool.finished",
    "queue_wait": "  queue wait (created -> started)",
    "run": "  run (started -> finished)",
    "tool": "    of which the tool (duration_ms)",
    "delivery": "  delivery (finished -> client)",
}


def model_reply(request) -> Reply:
    """search_faq first; once its result is in the prompt, a one-line answer."""
    if request.messages and request.messages[-1].get("role") == "tool":
        return Reply(text="You have 30 days to return an item.")
    return Reply(tool_calls=[ToolCallSpec("search_faq", {"question": QUESTION})])


def manage(code: Path, env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=code,
        env={**env, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def tools_worker_command(code: Path) -> list[str]:
    """The tools worker as the tree's supportbot/Procfile starts it in production (its pool and
    options), with TOOL_CONCURRENCY 2, a name of its own and warnings only."""
    line = next(
        line.split(":", 1)[1]
        for line in (code / "supportbot" / "Procfile").read_text().splitlines()
        if line.startswith("tools:")
    )
    words = shlex.split(line.replace("$TOOL_CONCURRENCY", "2"))
    assert words[0] == "celery", words
    for option, value in (("-n", f"bench-{uuid.uuid4().hex[:6]}@%h"), ("--loglevel", "WARNING")):
        words[words.index(option) + 1] = value
    return [sys.executable, "-m", *words]


@contextlib.contextmanager
def product_running(code: Path, env: dict, log: Path, worker_options: list[str]):
    """uvicorn and a tools worker from `code`; yields the product's URL."""
    env = {**env, "PYTHONPATH": str(code)}
    port = free_port()
    with log.open("a") as out:
        worker = subprocess.Popen(
            [*tools_worker_command(code), *worker_options],
            cwd=code,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "supportbot.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
                *("--ws-per-message-deflate", "false", "--no-access-log"),
            ],
            cwd=code,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(url, server, timeout=180)  # slow to start on a loaded machine
            yield url
        finally:
            for process in (server, worker):
                process.terminate()
            for process in (server, worker):
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def customer_turns(url: str, bot: str, replies: int) -> list[dict]:
    """Customers asking `replies` questions one after another (a few each: the socket takes a
    burst of 10 messages, then one a second); per reply the tool frames' arrival times."""
    seen: list[dict] = []
    while len(seen) < replies:
        seen += await _one_customer(url, bot, min(MESSAGES_PER_CUSTOMER, replies - len(seen)))
    return seen


async def _one_customer(url: str, bot: str, replies: int) -> list[dict]:
    import aiohttp
    from websockets.asyncio.client import connect

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/widget/{bot}/session",
            data=json.dumps({"visitor_id": uuid.uuid4().hex}),
            headers={"Content-Type": "text/plain", "Origin": url},
        ) as response,
    ):
        response.raise_for_status()
        session = await response.json()
    seen = []
    async with connect(
        url.replace("http", "ws", 1) + session["websocket_path"],
        origin=url,
        ping_interval=None,
        max_size=2**20,
    ) as ws:
        await ws.send(json.dumps({"type": "auth", "token": session["token"], "last_seq": 0}))
        ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert ready["type"] == "ready", ready
        for _ in range(replies):
            await ws.send(
                # A question of its own each time, or the reply cache answers without tools.
                json.dumps(
                    {
                        "type": "message",
                        "client_id": uuid.uuid4().hex,
                        "text": f"{QUESTION} (ticket {uuid.uuid4().hex[:8]})",
                    }
                )
            )
            turn: dict = {}
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                now = time.time()
                if frame["type"] in ("tool.started", "tool.finished"):
                    turn[frame["type"]] = now
                    turn["call_id"] = frame.get("call_id")
                elif frame["type"] == "assistant.done":
                    turn["state"] = frame["state"]
                    break
                elif frame["type"] == "error":
                    raise RuntimeError(f"error frame: {frame}")
            seen.append(turn)
            await asyncio.sleep(0.05)  # a customer reads before the next question
    return seen


def runs_of(database_url: str, call_ids: list[str]) -> dict[str, dict]:
    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT call_id, status, extract(epoch from created_at), id, "
            "extract(epoch from started_at), extract(epoch from finished_at), duration_ms "
            "FROM conversations_toolrun WHERE call_id = ANY(%s)",
            [call_ids],
        ).fetchall()
    return {
        r[0]: {
            "status": r[1],
            "created": float(r[2]),
            "id": r[3],
            "started": float(r[4]),
            "finished": float(r[5]),
            "duration_ms": r[6],
        }
        for r in rows
    }


def figures(turns: list[dict], runs: dict[str, dict]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {name: [] for name in FIGURES}
    for turn in turns:
        run = runs[turn["call_id"]]
        if run["status"] != "succeeded" or turn.get("state") != "complete":
            raise RuntimeError(f"a reply went wrong: {turn} {run}")
        out["created_finished"].append((run["finished"] - run["created"]) * 1000)
        out["client"].append((turn["tool.finished"] - turn["tool.started"]) * 1000)
        out["queue_wait"].append((run["started"] - run["created"]) * 1000)
        out["run"].append((run["finished"] - run["started"]) * 1000)
        out["tool"].append(float(run["duration_ms"]))
        out["delivery"].append((turn["tool.finished"] - run["finished"]) * 1000)
    return out


def trace_read(path: Path) -> dict[str, dict[str, float]]:
    """The steps' timestamps in a trace file, by key (`run:<id>`, `call:<id>`); emptied after."""
    steps: dict[str, dict[str, float]] = {}
    if not path.exists():
        return steps
    for line in path.read_text().splitlines():
        key, step, at = line.split()
        steps.setdefault(key, {}).setdefault(step, float(at))
    path.write_text("")
    return steps


def step_gaps(
    turns: list[dict], runs: dict[str, dict], trace: dict[str, dict[str, float]]
) -> list[list[float]]:
    """Per step after the first, the gaps (ms) from the step before it, one per traced run."""
    gaps: list[list[float]] = [[] for _ in STEPS[1:]]
    for turn in turns:
        run = runs[turn["call_id"]]
        at = {
            "client": turn,
            "row": run,
            "run": trace.get(f"run:{run['id']}", {}),
            "call": trace.get(f"call:{turn['call_id']}", {}),
        }
        times = [at[kind].get(step) for kind, step, _ in STEPS]
        if None in times:
            continue
        for index in range(1, len(times)):
            gaps[index - 1].append((times[index] - times[index - 1]) * 1000)
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=50, help="measured replies a round")
    parser.add_argument("--warmup", type=int, default=5, help="replies before measuring")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--code", action="append", type=Path, help="code trees to measure in turn (default: this)"
    )
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for every tree's processes"
    )
    parser.add_argument(
        "--worker-option", action="append", default=[], help="added to the worker's command"
    )
    args = parser.parse_args()
    # Stopped with SIGTERM: still stop the servers and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    codes = [c.resolve() for c in (args.code or [ROOT])]
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        # `make bench` runs every bench: the embedded default has no Celery path to measure.
        print("skipped: needs DATABASE_URL (PostgreSQL) and REDIS_URL, Celery's path is measured")
        return

    results: dict[Path, dict[str, list[float]]] = {c: {n: [] for n in FIGURES} for c in codes}
    breakdowns: dict[Path, list[list[float]]] = {c: [[] for _ in STEPS[1:]] for c in codes}
    print(f"{os.cpu_count()} CPUs, load average at start {load_average()}", flush=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        OpenAIServer() as model,
        contextlib.ExitStack() as stack,
    ):
        model.rule = model_reply
        # Each tree gets its own database, migrated by its own code: trees with different
        # migrations cannot share one.
        stores: dict[Path, tuple[str, dict[str, str], str]] = {}
        for code in codes:
            database = stack.enter_context(_postgres_database(database_url))
            env = server_env(
                Path(tmp),
                DEBUG="0",
                DATABASE_URL=database,
                CELERY_TASK_ALWAYS_EAGER="0",
                SUPPORTBOT_ENGINE="openai",
                OPENAI_BASE_URL=model.base_url,
                OPENAI_API_KEY="bench",
                OPENAI_MAX_RETRIES="0",
                LOG_LEVEL="ERROR",
                SUPPORTBOT_RATE_PER_IP_PER_MINUTE="10000000",
                SUPPORTBOT_RATE_PER_CONVERSATION_PER_MINUTE="10000000",
                SUPPORTBOT_TOOL_TRACE=str(Path(tmp) / f"trace-{len(stores)}"),
                # The production shape (`make prod`): a connection pool in every process.
                DB_POOL_MAX_SIZE="20",
                **dict(option.split("=", 1) for option in args.env),
            )
            manage(code, env, "migrate", "--noinput")
            bot = re.search(r"pk_[\w-]+", manage(code, env, "seed_demo")).group(0)
            stores[code] = (database, env, bot)
        for round_index in range(args.rounds):
            for code in codes:
                database, env, bot = stores[code]
                trace = Path(env["SUPPORTBOT_TOOL_TRACE"])
                with product_running(
                    code, env, Path(tmp) / "server.log", args.worker_option
                ) as url:
                    asyncio.run(customer_turns(url, bot, args.warmup))
                    trace_read(trace)
                    load = load_average()
                    turns = asyncio.run(customer_turns(url, bot, args.replies))
                    runs = runs_of(database, [t["call_id"] for t in turns])
                    got = figures(turns, runs)
                for name in FIGURES:
                    results[code][name] += got[name]
                for index, gaps in enumerate(step_gaps(turns, runs, trace_read(trace))):
                    breakdowns[code][index] += gaps
                medians = ", ".join(
                    f"{name} {statistics.median(got[name]):.1f}" for name in FIGURES
                )
                print(
                    f"round {round_index + 1} {code}: medians ms: {medians} "
                    f"(load {load} -> {load_average()})",
                    flush=True,
                )
    print(f"\nAll rounds (load average at end {load_average()}); ms, p50 / p95:")
    for name in FIGURES:
        cells = "  ".join(
            f"{percentile(results[c][name], 50):7.1f} / {percentile(results[c][name], 95):6.1f}"
            for c in codes
        )
        print(f"  {LABELS[name]:<40} {cells}")
    print("  columns: " + "  ".join(str(c) for c in codes))
    for code in codes:
        if not breakdowns[code][0]:
            continue  # a tree without trace points
        print(f"\nStep by step, {code} ({len(breakdowns[code][0])} traced runs); ms, p50 / p95:")
        for (_, step, label), gaps in zip(STEPS[1:], breakdowns[code], strict=True):
            cell = f"{percentile(gaps, 50):7.1f} / {percentile(gaps, 95):6.1f}"
            print(f"  {label or step:<56} {cell}")


if __name__ == "__main__":
    main()
