"""Tools on a real `celery worker` process, on Redis and PostgreSQL."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connection, connections
from django.utils import timezone

from conversations.messages import message_append
from conversations.models import MessageRole, ToolRun, ToolRunStatus
from conversations.tools import ToolCall, tool_calls_execute
from supportbot.celery import app
from tests import factories
from tests.conftest import requires_postgres, requires_redis
from tests.conversations.tools import slow_tools

pytestmark = [
    requires_redis,
    requires_postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def close_thread_connections():
    """Async tests use the ORM from asgiref's shared thread: close its connection afterwards
    so PostgreSQL can drop the test database."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


ROOT = Path(__file__).resolve().parents[3]
WORKER_NAME = "tools-test@%h"


@pytest.fixture(scope="module")
def worker(django_db_setup):
    """A worker on the "tools" queue that uses this test run's database."""
    slow_tools.register()
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("tools")
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "DB_CONN_MAX_AGE": "0",
        "SUPPORTBOT_EXTRA_TOOLS": "tests.conversations.tools.slow_tools",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "supportbot",
            "worker",
            "-Q",
            "tools",
            "-c",
            "4",
            "-n",
            WORKER_NAME,
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 40
        while not app.control.ping(destination=None, timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(process.stderr.read().decode()[-3000:])
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        slow_tools.unregister()


@sync_to_async
def a_verified_customer_with_an_order():
    bot = factories.bot_create()
    factories.faq_load(bot=bot)
    shopper = factories.store_customer_create(bot=bot, email="ana@example.com")
    order = factories.order_create(bot=bot, customer=shopper, tracking=["1Z999AA10123456784"])
    customer = factories.customer_create(
        bot=bot, email="ana@example.com", verified_at=timezone.now()
    )
    conversation = factories.conversation_create(bot=bot, customer=customer)
    message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    return conversation, message, order


def call(n, name, **arguments):
    return ToolCall(id=f"call_{n}", name=name, arguments=json.dumps(arguments))


async def test_two_lookups_run_in_parallel_on_the_worker_and_a_hung_one_times_out(worker):
    conversation, message, order = await a_verified_customer_with_an_order()
    started = time.monotonic()
    outcomes = [
        o
        async for o in tool_calls_execute(
            conversation_id=conversation.pk,
            message_id=message.pk,
            calls=[
                call(1, "get_order", order_number=order.number),
                call(2, "search_faq", question="how long does a refund take"),
                call(3, "wait_a_while", seconds=0.8),
                call(4, "wait_a_while", seconds=0.8),
                call(5, "wait_a_while", seconds=30),  # its limit is 2 s
            ],
        )
    ]
    elapsed = time.monotonic() - started

    status = {o.call_id: o.status for o in outcomes}
    assert status == {
        "call_1": ToolRunStatus.SUCCEEDED,
        "call_2": ToolRunStatus.SUCCEEDED,
        "call_3": ToolRunStatus.SUCCEEDED,
        "call_4": ToolRunStatus.SUCCEEDED,
        "call_5": ToolRunStatus.TIMEOUT,
    }
    by_id = {o.call_id: o for o in outcomes}
    assert by_id["call_1"].data["order"]["fulfillments"][0]["tracking_numbers"] == [
        "1Z999AA10123456784"
    ]
    assert by_id["call_2"].data["matches"][0]["question"] == "When will I get my refund?"
    assert by_id["call_2"].sources
    # Two 0.8 s sleeps and the 2 s limit overlap: sequential would take well over 4 s.
    assert elapsed < 3.5

    runs = {r.call_id: r async for r in ToolRun.objects.filter(message=message)}
    assert all(r.worker.startswith("tools-test@") for r in runs.values())
    assert runs["call_3"].started_at < runs["call_4"].finished_at
    assert runs["call_4"].started_at < runs["call_3"].finished_at
    assert runs["call_5"].status == ToolRunStatus.TIMEOUT
    # The hung task is stopped by its own time limit (2 s + 2 s) and cannot undo "timeout".
    await asyncio.sleep(2.5)
    late = await ToolRun.objects.aget(pk=runs["call_5"].pk)
    assert late.status == ToolRunStatus.TIMEOUT
    assert late.result["data"]["error"] == "timeout"


async def test_round_after_round_the_results_come_back_promptly(worker):
    conversation, _, order = await a_verified_customer_with_an_order()
    for n in range(3):
        message, _ = await sync_to_async(message_append)(
            conversation_id=conversation.pk, role=MessageRole.ASSISTANT
        )
        started = time.monotonic()
        outcomes = [
            o
            async for o in tool_calls_execute(
                conversation_id=conversation.pk,
                message_id=message.pk,
                calls=[call(n, "get_order", order_number=order.number)],
            )
        ]
        assert outcomes[0].status == ToolRunStatus.SUCCEEDED
        assert time.monotonic() - started < 1.5
