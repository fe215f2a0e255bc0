"""A message's hand-written statements on one kept PostgreSQL connection: prepared or not.

    DATABASE_URL=postgres://.../scratch python bench/bench_statements.py [--messages 2000]

Runs, on a scratch database (migrated and seeded here: give it one of its own), what every
customer message costs in statements: the client-id lookup, the message insert with the
conversation's lock and its commit, and the history's two reads, --messages times over 20
conversations, once with the statements prepared (domain/rows.py:statement_cursor on a kept
connection) and once with Django's client-side binding, alternated --rounds times. Prints the
CPU per message of this process and of its PostgreSQL backend (/proc, so the server must run on
this machine), and the load average: on a shared machine compare the two modes within a run.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("skipped: needs DATABASE_URL (PostgreSQL on this machine)")
        return
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="supportbot.settings",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-secret-key"),
        SECURE_SSL_REDIRECT="0",
        DB_POOL_MAX_SIZE="0",
        DB_CONN_MAX_AGE="600",  # one kept connection, this thread's
        LOG_LEVEL="ERROR",
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from conversations.domain import rows
    from conversations.domain.conversation import conversation_start, customer_identify
    from conversations.domain.messages import message_append, message_for_client_id
    from conversations.engine.history_rows import history_conversation_row, history_message_rows
    from conversations.models import Bot, MessageRole

    call_command("migrate", "--noinput", verbosity=0)
    if not Bot.objects.exists():
        call_command("seed_demo", "--conversations", "0", verbosity=0)
    bot = Bot.objects.order_by("created_at").first()
    kept = rows._connections_kept
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def run(mode: str, label: str) -> None:
        rows._connections_kept = kept if mode == "prepared" else (lambda db: False)
        ids = [
            conversation_start(
                bot=bot, customer=customer_identify(bot=bot, visitor_id=f"{label}-{n}")
            )[0].pk
            for n in range(20)
        ]

        def message(n: int) -> None:
            conversation_id = ids[n % len(ids)]
            message_for_client_id(conversation_id=conversation_id, client_id=f"c{n}")
            message_append(
                conversation_id=conversation_id,
                role=MessageRole.CUSTOMER,
                text=f"Where is my parcel, question {n}?",
                client_id=f"c{n}",
            )
            history_conversation_row(conversation_id)
            history_message_rows(conversation_id=conversation_id, after_seq=max(0, n // 20 - 10))

        for n in range(50):  # warm: imports, and each statement prepared once
            message(n)
        load = " ".join(Path("/proc/loadavg").read_text().split()[:2])
        server, client = backend_cpu(pid), time.process_time()
        for n in range(50, 50 + args.messages):
            message(n)
        server, client = backend_cpu(pid) - server, time.process_time() - client
        print(
            f"  {mode:<10} this process {1000 * client / args.messages:.3f} ms, PostgreSQL "
            f"backend {1000 * server / args.messages:.3f} ms per message (load {load})",
            flush=True,
        )

    stamp = time.strftime("%H%M%S")
    for round_ in range(args.rounds):
        for mode in ("prepared", "unprepared"):
            run(mode, f"bench-{stamp}-{round_}-{mode}")


if __name__ == "__main__":
    main()
