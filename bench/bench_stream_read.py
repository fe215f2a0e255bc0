"""CPU per streamed token of the model's stream read alone, against the bare reader.

    python bench/bench_stream_read.py                        # this tree, 100 streams
    python bench/bench_stream_read.py --root /other/tree     # another checkout's backend

The first link of the per-token path, without the engine, the database or sockets:
--streams streams of --tokens tokens at --rate tokens a second from bench/model_server.py (a
process of its own), all at once, read in this process by (a) the product's backend
(conversations/engine/backends/openai.py: the SDK's request, the body's bytes split into
events, json.loads) and (b) the bare reader of bench/load.py (aiohttp, raw SSE lines,
json.loads), alternated --rounds times on uvloop. Prints this process's CPU time per token
(user + sys, over every token received) and the tokens each delta carried, with the load
average. CPU time is this process's own, steadier than wall time on a shared machine; compare
trees and readers in the same run.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.load import load_average  # noqa: E402


async def product_streams(args) -> tuple[float, int, int]:
    from conversations.engine.backends import ModelRequest, TextDelta
    from conversations.engine.backends.openai import OpenAIBackend

    backend = OpenAIBackend()
    counts = [0, 0]  # deltas, tokens

    async def one() -> None:
        request = ModelRequest(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Hello?"}],
            tools=[],
            max_tokens=4096,
        )
        async for event in backend.stream(request):
            if isinstance(event, TextDelta):
                counts[0] += 1
                counts[1] += len(event.text.split())

    await one()  # the SDK's client and its connection pool
    counts[:] = [0, 0]
    cpu = time.process_time()
    await asyncio.gather(*(one() for _ in range(args.streams)))
    return time.process_time() - cpu, counts[0], counts[1]


async def bare_streams(args, url: str) -> tuple[float, int, int]:
    import aiohttp

    from bench.load import Plan, Tally, _raw_reply

    plan = Plan(kind="raw", server=url, clients=args.streams)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await _raw_reply(plan, http, Tally())
        tally = Tally()
        cpu = time.process_time()
        await asyncio.gather(*(_raw_reply(plan, http, tally) for _ in range(args.streams)))
        return time.process_time() - cpu, tally.frames, tally.frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(HERE.parent), help="the tree whose backend runs")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    model = subprocess.Popen(
        [
            *(sys.executable, str(HERE / "model_server.py")),
            *("--rate", str(args.rate), "--tokens", str(args.tokens)),
            "--first-token-delay",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = model.stdout.readline().strip()
        root = Path(args.root).resolve()
        sys.path.insert(0, str(root))
        os.chdir(root)
        os.environ.update(
            DJANGO_SETTINGS_MODULE="supportbot.settings",
            SECRET_KEY="bench-secret-key",
            DEBUG="0",
            SECURE_SSL_REDIRECT="0",
            OPENAI_BASE_URL=url,
            OPENAI_API_KEY="bench",
            OPENAI_MAX_RETRIES="0",
            OPENAI_TIMEOUT="120",
            LOG_LEVEL="ERROR",
        )
        import django
        import uvloop

        django.setup()
        print(
            f"{args.streams} streams of {args.tokens} tokens at {args.rate:g}/s, backend of "
            f"{root}, load {load_average()}",
            flush=True,
        )
        for n in range(args.rounds):
            for name, run in (
                ("product backend", lambda: product_streams(args)),
                ("bare reader", lambda: bare_streams(args, url)),
            ):
                cpu, deltas, tokens = uvloop.run(run())
                print(
                    f"  round {n + 1} {name:16s} {1e6 * cpu / max(1, tokens):6.1f} µs CPU a token, "
                    f"{tokens / max(1, deltas):.2f} tokens a delta (load {load_average()})",
                    flush=True,
                )
    finally:
        model.terminate()
        model.wait(timeout=10)


if __name__ == "__main__":
    main()
