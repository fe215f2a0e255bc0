"""CPU per reply without sockets: the intake and the engine driven directly, in one process.

    python bench/bench_reply_cpu.py                       # this tree's code
    python bench/bench_reply_cpu.py --root /other/tree    # another checkout's code, same harness

Starts bench/model_server.py (the lean OpenAI-protocol server, a process of its own), migrates
a scratch SQLite database (or a scratch PostgreSQL one with DATABASE_URL), seeds the demo
store, opens --conversations conversations, then has every customer write --turns messages,
each awaited to its reply's end (customer_message_post, then the reply task), all
conversations at once. Prints the process's CPU time (user + sys, every thread) over the
replies it finished, the queries a reply took, and the load average. The per-token path
(engine, coalescer, channel layer with nobody listening) is included; sockets are not.
Compare two trees in the same run, alternating, and quote medians: the machine is shared.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:2])


def setup(root: Path, tmp: Path, model_url: str, *, redis: bool) -> None:
    sys.path.insert(0, str(root))
    os.chdir(root)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="supportbot.settings",
        SECRET_KEY="bench-secret-key",
        DEBUG="0",
        SECURE_SSL_REDIRECT="0",
        SUPPORTBOT_ENGINE="openai",
        OPENAI_BASE_URL=model_url,
        OPENAI_API_KEY="bench",
        OPENAI_MAX_RETRIES="0",
        OPENAI_TIMEOUT="120",
        CELERY_TASK_ALWAYS_EAGER="1",
        MEDIA_ROOT=str(tmp / "media"),
        SQLITE_PATH=str(tmp / "bench.sqlite3"),
        LOG_LEVEL="ERROR",
    )
    if redis and os.environ.get("REDIS_URL"):
        # The production shape's layer and cache, under names of this run's own.
        os.environ["CHANNEL_LAYER_PREFIX"] = f"bench{os.getpid()}"
        os.environ.setdefault("DB_POOL_MAX_SIZE", "24")
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    else:
        os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", "--conversations", "0", verbosity=0)
    if redis:
        from django.core.cache import cache

        cache.clear()  # reply-cache markers of an earlier run would answer this run's questions


def conversations_open(count: int) -> list:
    from conversations.domain.conversation import conversation_start, customer_identify
    from conversations.models import Bot

    bot = Bot.objects.order_by("created_at").first()
    return [
        conversation_start(bot=bot, customer=customer_identify(bot=bot, visitor_id=f"bench-{n}"))[
            0
        ].pk
        for n in range(count)
    ]


async def customer_turns(conversation_id, turns: int, label: str) -> int:
    from conversations.domain import intake

    done = 0
    for turn in range(turns):
        # A new question each time: the reply cache must not answer it.
        posted = await intake.customer_message_post(
            conversation_id=conversation_id,
            text=f"Where is my parcel, question {label}-{turn}? It has been a week.",
            client_id=f"{label}-{turn}",
            subscribe=True,
        )
        if posted.events is not None:
            async for _event in posted.events:
                pass
            done += 1
    return done


async def round_run(ids: list, turns: int, label: str) -> int:
    results = await asyncio.gather(
        *(customer_turns(cid, turns, f"{label}{n}") for n, cid in enumerate(ids))
    )
    return sum(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(HERE.parent), help="the tree whose code runs")
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--first-token-delay", type=float, default=0.2)
    parser.add_argument("--queries", action="store_true", help="also count one reply's queries")
    parser.add_argument(
        "--redis",
        action="store_true",
        help="keep REDIS_URL: the Redis layer and cache (DB_POOL_MAX_SIZE default 24)",
    )
    args = parser.parse_args()
    model = subprocess.Popen(
        [
            *(sys.executable, str(HERE / "model_server.py")),
            *("--rate", str(args.rate), "--tokens", str(args.tokens)),
            *("--first-token-delay", str(args.first_token_delay)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = model.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            setup(Path(args.root), Path(tmp), url, redis=args.redis)
            ids = conversations_open(args.conversations)
            queries: list[str] = []
            if args.queries:
                from django.db.backends.signals import connection_created

                def record(execute, sql, params, many, context):
                    queries.append(sql)
                    return execute(sql, params, many, context)

                def wrap(sender, connection, **kwargs):
                    connection.execute_wrappers.append(record)

                connection_created.connect(wrap, weak=False)
            loop = asyncio.new_event_loop()
            loop.run_until_complete(round_run(ids[:4], 1, "warm"))  # imports, SDK client
            if args.queries:
                queries.clear()
                loop.run_until_complete(round_run(ids[:1], 1, "count"))
                print(f"queries for one message and its reply: {len(queries)}")
                for sql in queries:
                    print("   ", sql[:200])
            load_before = load_average()
            print(f"measuring (pid {os.getpid()})", flush=True)
            cpu, wall = time.process_time(), time.monotonic()
            replies = loop.run_until_complete(round_run(ids, args.turns, "run"))
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            print(
                f"root {args.root}: {replies} replies of {args.tokens} tokens, "
                f"{cpu * 1000 / max(replies, 1):.2f} ms CPU per reply ({cpu:.2f} s CPU, "
                f"{wall:.1f} s wall), load {load_before} -> {load_average()}",
                flush=True,
            )
    finally:
        model.terminate()
        model.wait(timeout=10)


if __name__ == "__main__":
    main()
