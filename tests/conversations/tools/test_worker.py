"""Tools on a real `celery worker` process, on Redis and PostgreSQL, and whole chat turns that
use them (those wait for the reply engine: they skip until conversations.engine.loop exists)."""

import asyncio
import json
import time

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.models import Message, MessageRole, ReplyDraft, ToolRun, ToolRunStatus
from conversations.tools import ToolCall, tool_calls_execute
from tests import factories
from tests.celery_worker import celery_worker_running
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


@pytest.fixture(scope="module")
def worker(django_db_setup):
    """A worker on the "tools" queue that uses this test run's database."""
    slow_tools.register()
    try:
        with celery_worker_running(
            queue="tools",
            name="tools-test",
            concurrency=4,
            env={"SUPPORTBOT_EXTRA_TOOLS": "tests.conversations.tools.slow_tools"},
        ) as process:
            yield process
    finally:
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
    # The round ends at the hung call's 2 s limit, not at its 30 s (with room for a busy CI).
    assert elapsed < 8

    runs = {r.call_id: r async for r in ToolRun.objects.filter(message=message)}
    assert all(r.worker.startswith("tools-test@") for r in runs.values())
    # The calls ran side by side.
    assert runs["call_3"].started_at < runs["call_4"].finished_at
    assert runs["call_4"].started_at < runs["call_3"].finished_at
    assert runs["call_1"].started_at < runs["call_3"].finished_at
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


async def test_the_worker_keeps_its_database_connection_and_sends_what_it_stored(worker):
    conversation, _, _ = await a_verified_customer_with_an_order()
    backends, outcomes = set(), []
    for n in range(8):
        message, _ = await sync_to_async(message_append)(
            conversation_id=conversation.pk, role=MessageRole.ASSISTANT
        )
        async for outcome in tool_calls_execute(
            conversation_id=conversation.pk,
            message_id=message.pk,
            calls=[call(n, "database_backend")],
        ):
            outcomes.append((message.pk, outcome))
            backends.add(outcome.data["backend_pid"])
    # Four worker processes at most: no connect per task.
    assert all(o.status == ToolRunStatus.SUCCEEDED for _, o in outcomes)
    assert len(backends) <= 4, backends
    # The outcome came with the worker's message; the row says the same.
    for message_id, outcome in outcomes:
        run = await ToolRun.objects.aget(message_id=message_id, call_id=outcome.call_id)
        assert run.result["data"] == outcome.data
        assert run.duration_ms == outcome.duration_ms


@sync_to_async
def a_customer_says(*, text, verified_email="", order_email="ana@example.com"):
    bot = factories.bot_create()
    factories.faq_load(bot=bot)
    shopper = factories.store_customer_create(bot=bot, email=order_email)
    order = factories.order_create(bot=bot, customer=shopper, tracking=["1Z999AA10123456784"])
    customer = factories.customer_create(
        bot=bot,
        email=verified_email,
        verified_at=timezone.now() if verified_email else None,
    )
    conversation = factories.conversation_create(bot=bot, customer=customer)
    message_append(
        conversation_id=conversation.pk,
        role=MessageRole.CUSTOMER,
        text=text.format(number=order.number),
    )
    return conversation, order


async def reply_to(conversation):
    from conversations.engine import reply_stream

    with override_settings(SUPPORTBOT_ENGINE="offline"):
        events = [e async for e in reply_stream(conversation_id=conversation.pk)]
    done = [e for e in events if e.type == "assistant.done"]
    assert len(done) == 1, [e.to_dict() for e in events]
    return events, done[0]


async def test_a_chat_turn_runs_two_tools_in_parallel_on_the_worker(worker):
    conversation, order = await a_customer_says(
        text="Order {number}: can I return the water bottle?", verified_email="ana@example.com"
    )

    events, done = await reply_to(conversation)

    assert done.state == "complete"
    assert order.number in done.text and "1Z999AA10123456784" in done.text
    assert done.sources  # the return policy, cited
    runs = [r async for r in ToolRun.objects.filter(conversation_id=conversation.pk)]
    assert {r.tool for r in runs} >= {"get_order", "search_faq"}
    assert all(r.status == ToolRunStatus.SUCCEEDED for r in runs)
    assert all(r.worker.startswith("tools-test@") for r in runs)
    started = [e for e in events if e.type == "tool.started"]
    finished = [e for e in events if e.type == "tool.finished"]
    assert len(started) == len(finished) == len(runs)


async def test_the_order_number_and_its_email_get_status_and_tracking(worker):
    conversation, order = await a_customer_says(
        text="Where is my order {number}? My email is ana@example.com"
    )
    _, done = await reply_to(conversation)
    assert "1Z999AA10123456784" in done.text
    assert order.status in done.text


async def test_the_order_number_with_another_email_gets_nothing_of_it(worker):
    conversation, _ = await a_customer_says(
        text="Where is my order {number}? My email is eve@example.com"
    )
    _, done = await reply_to(conversation)
    assert "1Z999AA10123456784" not in done.text
    assert "Water Bottle" not in done.text
    runs = [r async for r in ToolRun.objects.filter(conversation_id=conversation.pk)]
    assert "identify_customer" in {r.tool for r in runs}
    assert all(r.result["data"].get("error") for r in runs if r.tool == "get_order")


async def test_a_copilot_drafts_lookups_run_on_the_worker_as_runs_of_the_draft(worker):
    """An agent's draft takes the same tool path: ToolRun rows of the draft, on the worker."""
    from conversations.agents.copilot import draft_stream

    conversation, order = await a_customer_says(
        text="Order {number}: can I return the water bottle?", verified_email="ana@example.com"
    )
    with override_settings(SUPPORTBOT_ENGINE="offline"):
        events = [
            e.to_dict()
            async for e in draft_stream(conversation_id=conversation.pk, agent_name="Dana")
        ]

    assert events[-1]["type"] == "draft.done", events
    text = events[-1]["text"]
    assert order.number in text and "1Z999AA10123456784" in text
    assert {e["tool"] for e in events if e["type"] == "draft.tool"} == {"get_order", "search_faq"}
    draft = await ReplyDraft.objects.aget(conversation_id=conversation.pk)
    runs = [r async for r in ToolRun.objects.filter(conversation_id=conversation.pk)]
    assert {r.tool for r in runs} == {"get_order", "search_faq"}
    assert all(r.draft_id == draft.pk and r.message_id is None for r in runs)
    assert all(r.status == ToolRunStatus.SUCCEEDED for r in runs)
    assert all(r.worker.startswith("tools-test@") for r in runs)
    assert draft.text == text
    # Only the customer's message: the draft is no part of the conversation.
    roles = [m.role async for m in Message.objects.filter(conversation_id=conversation.pk)]
    assert roles == [MessageRole.CUSTOMER]


@sync_to_async
def backends_terminate(pids) -> int:
    """Terminate these PostgreSQL backends, as a restart of PostgreSQL would; how many."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM unnest(%s) AS pid", [pids])
        return cursor.fetchone()[0]


async def test_runs_succeed_on_a_worker_whose_kept_connections_died(worker):
    """No health check before each task: a run's claim meets the dead connection and tries
    once more on a new one, so every run after PostgreSQL dropped them still succeeds."""
    conversation, _, order = await a_verified_customer_with_an_order()

    async def round_of(n, name, **arguments):
        message, _ = await sync_to_async(message_append)(
            conversation_id=conversation.pk, role=MessageRole.ASSISTANT
        )
        calls = [call(f"{n}_{i}", name, **arguments) for i in range(4)]
        return [
            o
            async for o in tool_calls_execute(
                conversation_id=conversation.pk, message_id=message.pk, calls=calls
            )
        ]

    kept = {o.data["backend_pid"] for o in await round_of(0, "database_backend")}
    assert await backends_terminate(sorted(kept)) == len(kept)
    for n in (1, 2):
        outcomes = await round_of(n, "get_order", order_number=order.number)
        assert [o.status for o in outcomes] == [ToolRunStatus.SUCCEEDED] * 4
    after = {o.data["backend_pid"] for o in await round_of(3, "database_backend")}
    assert not after & kept  # the dead ones were replaced
