"""Time the agents' pages over many conversations: the admin list (filters, search), a
transcript, the dashboard. Needs PostgreSQL in DATABASE_URL (a scratch database: it adds rows).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sb_bench python bench/bench_admin.py 100000
"""

import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django

django.setup()

from django.conf import settings  # noqa: E402

# No collectstatic here: static names are served as they are.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from conversations.agents.access import agents_group_ensure  # noqa: E402
from conversations.models import Bot, Conversation, Customer, Message  # noqa: E402

TEXTS = [
    "Where is my order #W{n}? It should have arrived by now.",
    "I want to return the shoes, they are too small.",
    "Can I change the shipping address of my last order?",
    "Do you have the blue kettle in stock?",
    "I was charged twice, please refund one payment.",
]


def conversations_ensure(n: int) -> None:
    have = Conversation.objects.count()
    if have >= n:
        return
    bot, _ = Bot.objects.get_or_create(slug="bench", defaults={"name": "Bench Store"})
    rng = random.Random(have)
    now = timezone.now()
    batch = 5000
    for start in range(have, n, batch):
        size = min(batch, n - start)
        customers = Customer.objects.bulk_create(
            Customer(
                bot=bot,
                visitor_id=uuid.uuid4().hex,
                email=f"customer{start + i}@example.com" if i % 3 else "",
            )
            for i in range(size)
        )
        conversations = []
        messages = []
        for customer in customers:
            created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
            handed = rng.random() < 0.15
            c = Conversation(
                bot=bot,
                customer=customer,
                status=rng.choice(["closed", "closed", "closed", "bot"]),
                handoff_requested_at=created + timedelta(minutes=2) if handed else None,
                last_seq=4,
                last_message_at=created + timedelta(minutes=3),
                csat_rating=rng.choice([None, None, 1, 3, 4, 5, 5]),
                flagged=rng.random() < 0.01,
                topic=rng.choice(["order status", "returns and refunds", "shipping", "payment"]),
                sentiment=rng.choice(["positive", "neutral", "negative"]),
                resolved_by_bot=not handed,
                prompt_tokens=rng.randint(500, 5000),
                completion_tokens=rng.randint(50, 500),
                cost_usd=Decimal(rng.randint(100, 3000)) / Decimal(1_000_000),
                resume_token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
            )
            conversations.append((c, created))
        Conversation.objects.bulk_create([c for c, _ in conversations])
        # auto_now_add set created_at to now: spread it over 60 days.
        for c, created in conversations:
            c.created_at = created
            text = TEXTS[rng.randrange(len(TEXTS))].format(n=start)
            messages += [
                Message(conversation=c, seq=1, role="customer", text=text),
                Message(
                    conversation=c,
                    seq=2,
                    role="assistant",
                    text="Let me look that up for you.",
                    model="gpt-4o-mini",
                    prompt_tokens=800,
                    completion_tokens=40,
                    ttft_ms=rng.randint(200, 900),
                ),
                Message(conversation=c, seq=3, role="customer", text="Thanks!"),
                Message(
                    conversation=c,
                    seq=4,
                    role="assistant",
                    text="You're welcome.",
                    model="gpt-4o-mini",
                    ttft_ms=rng.randint(200, 900),
                ),
            ]
        Conversation.objects.bulk_update([c for c, _ in conversations], ["created_at"])
        Message.objects.bulk_create(messages)
        print(f"  {start + size} conversations", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(client: Client, url: str, runs: int = 5) -> tuple[float, int]:
    client.get(url)  # warm
    times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times), len(queries)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database.")
    call_command("migrate", verbosity=0)
    conversations_ensure(n)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-agent", defaults={"is_staff": True}
    )
    user.groups.add(agents_group_ensure())
    # The agent handles the bench bot (agents see only their teams' bots).
    for bot in Bot.objects.filter(slug="bench"):
        bot.agent_groups.add(agents_group_ensure())
    client = Client()
    client.force_login(user)
    changelist = reverse("admin:conversations_conversation_changelist")
    some = Conversation.objects.order_by("-created_at").values_list("pk", flat=True).first()
    pages = {
        "list, first page": changelist,
        "list, page 20": changelist + "?p=20",
        "list, status=closed": changelist + "?status__exact=closed",
        "list, handed off": changelist + "?handed_off=yes",
        "list, CSAT 1": changelist + "?csat=1",
        "list, flagged": changelist + "?flagged__exact=1",
        "list, model": changelist + "?model=gpt-4o-mini",
        "list, search email": changelist + "?q=customer4242%40example.com",
        "list, search text": changelist + "?q=kettle",
        "transcript": reverse("admin:conversations_conversation_change", args=[some]),
        "dashboard, 30 days": reverse("agents:dashboard"),
        "queue page": reverse("agents:queue"),
    }
    total = Conversation.objects.count()
    print(f"{total} conversations, {Message.objects.count()} messages")
    print(f"{'page':24} {'median ms':>10} {'queries':>8}")
    for name, url in pages.items():
        ms, queries = timed(client, url)
        print(f"{name:24} {ms:10.0f} {queries:8}")


if __name__ == "__main__":
    main()
