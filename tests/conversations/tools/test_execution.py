"""Running rounds of tool calls in-process (the embedded default): validation, concurrency,
time limits, size caps and the ToolRun rows."""

import asyncio
import json
import time

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.models import ConversationStatus, MessageRole, ToolRun, ToolRunStatus
from conversations.tools import ToolCall, tool_calls_execute, tool_definitions, tool_label
from conversations.tools.runs import tool_run_execute
from tests import factories
from tests.conversations.tools import slow_tools

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager", "slow_tools_registered"),
]


@pytest.fixture(autouse=True)
def close_thread_connections():
    """Async tests use the ORM from asgiref's shared thread: close its connection afterwards
    so PostgreSQL can drop the test database."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def eager():
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        yield


@pytest.fixture
def slow_tools_registered():
    slow_tools.register()
    yield
    slow_tools.unregister()


@sync_to_async
def turn(*, verified_email=""):
    bot = factories.bot_create()
    customer = factories.customer_create(
        bot=bot, email=verified_email, verified_at=timezone.now() if verified_email else None
    )
    conversation = factories.conversation_create(bot=bot, customer=customer)
    factories.faq_load(bot=bot)
    message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    return bot, conversation, message


async def run_round(conversation, message, calls):
    return [
        o
        async for o in tool_calls_execute(
            conversation_id=conversation.pk, message_id=message.pk, calls=calls
        )
    ]


def call(n, name, **arguments):
    return ToolCall(id=f"call_{n}", name=name, arguments=json.dumps(arguments))


async def test_invalid_arguments_are_refused_before_anything_runs():
    _, conversation, message = await turn()
    outcomes = await run_round(
        conversation,
        message,
        [
            ToolCall(id="a", name="get_order", arguments='{"order_number": 12}'),
            ToolCall(id="b", name="get_order", arguments='{"order_number": "#W1", "admin": true}'),
            ToolCall(id="c", name="get_order", arguments="{not json"),
            ToolCall(id="d", name="drop_tables", arguments="{}"),
            call("e", "get_order", order_number="W" * 500),
        ],
    )
    assert [o.status for o in outcomes] == [ToolRunStatus.INVALID] * 5
    assert all(json.loads(o.content)["error"] == "invalid_arguments" for o in outcomes)
    assert "order_number" in outcomes[0].data["message"]
    runs = [r async for r in ToolRun.objects.filter(message=message).order_by("call_id")]
    assert [r.status for r in runs] == [ToolRunStatus.INVALID] * 5
    assert all(r.started_at is None and r.worker == "" for r in runs)


async def test_an_order_and_a_faq_answer_in_one_round():
    bot, conversation, message = await turn(verified_email="ana@example.com")
    shopper = await sync_to_async(factories.store_customer_create)(bot=bot, email="ana@example.com")
    order = await sync_to_async(factories.order_create)(
        bot=bot, customer=shopper, tracking=["1Z999"]
    )

    outcomes = await run_round(
        conversation,
        message,
        [
            call(1, "get_order", order_number=order.number),
            call(2, "search_faq", question="how long do refunds take"),
        ],
    )

    by_name = {o.name: o for o in outcomes}
    assert {o.status for o in outcomes} == {ToolRunStatus.SUCCEEDED}
    assert by_name["get_order"].data["order"]["fulfillments"][0]["tracking_numbers"] == ["1Z999"]
    assert by_name["get_order"].label == "Looked up your order"
    faq = by_name["search_faq"]
    assert faq.data["no_good_match"] is False
    assert faq.data["matches"][0]["question"] == "When will I get my refund?"
    assert faq.sources[0] == {
        "id": faq.data["matches"][0]["id"],
        "title": faq.data["matches"][0]["question"],
    }
    runs = [r async for r in ToolRun.objects.filter(message=message)]
    assert all(r.worker.startswith("in-process@") and r.duration_ms is not None for r in runs)
    assert all(r.result["data"] for r in runs)


async def test_calls_run_concurrently_and_a_hung_tool_times_out():
    _, conversation, message = await turn()
    started = time.monotonic()
    outcomes = await run_round(
        conversation,
        message,
        [
            call(1, "wait_a_while", seconds=4),  # its limit is 2 s
            call(2, "wait_a_while", seconds=0.8),
            call(3, "wait_a_while", seconds=0.8),
            call(4, "search_faq", question="do you ship to canada"),
        ],
    )
    elapsed = time.monotonic() - started

    assert elapsed < 8  # the hung call's 2 s limit, not its 4 s, with room for a busy CI
    assert outcomes[-1].call_id == "call_1"  # yielded as they finish
    status = {o.call_id: o.status for o in outcomes}
    assert status == {
        "call_1": ToolRunStatus.TIMEOUT,
        "call_2": ToolRunStatus.SUCCEEDED,
        "call_3": ToolRunStatus.SUCCEEDED,
        "call_4": ToolRunStatus.SUCCEEDED,
    }
    timed_out = outcomes[-1]
    assert json.loads(timed_out.content)["error"] == "timeout"
    assert timed_out.label == "That took too long"

    runs = {r.call_id: r async for r in ToolRun.objects.filter(message=message)}
    assert runs["call_2"].started_at < runs["call_3"].finished_at
    assert runs["call_3"].started_at < runs["call_2"].finished_at

    await asyncio.sleep(2.5)  # the hung tool finishes late: "timeout" stays
    run = await ToolRun.objects.aget(message=message, call_id="call_1")
    assert run.status == ToolRunStatus.TIMEOUT
    assert run.result["data"]["error"] == "timeout"


async def test_a_run_executes_once():
    _, conversation, message = await turn()
    outcomes = await run_round(conversation, message, [call(1, "wait_a_while", seconds=0)])
    assert outcomes[0].status == ToolRunStatus.SUCCEEDED
    run = await ToolRun.objects.aget(message=message)
    finished_at = run.finished_at
    # A redelivered task, and the engine retrying the round, both find the finished row.
    assert await sync_to_async(tool_run_execute)(run_id=run.pk) == ToolRunStatus.SUCCEEDED
    again = await run_round(conversation, message, [call(1, "wait_a_while", seconds=0)])
    assert again[0].status == ToolRunStatus.SUCCEEDED
    assert (await ToolRun.objects.aget(pk=run.pk)).finished_at == finished_at
    assert await ToolRun.objects.filter(message=message).acount() == 1


@override_settings(SUPPORTBOT_TOOL_RESULT_MAX_BYTES=1024)
async def test_results_are_capped_in_size():
    _, conversation, message = await turn()
    outcomes = await run_round(conversation, message, [call(1, "big_answer", size=50_000)])
    assert outcomes[0].data["truncated"] is True
    assert len(outcomes[0].content.encode()) < 1200


async def test_handoff_puts_the_conversation_in_the_agents_queue():
    _, conversation, message = await turn()
    outcomes = await run_round(
        conversation, message, [call(1, "handoff_to_human", summary="Wants a refund on #W1.")]
    )
    assert outcomes[0].data == {"status": ConversationStatus.WAITING}
    assert outcomes[0].label == "Asked a person to join"
    await conversation.arefresh_from_db()
    assert conversation.status == ConversationStatus.WAITING
    event = await conversation.messages.filter(role=MessageRole.EVENT).alast()
    assert event.data["summary"] == "Wants a refund on #W1."


async def test_definitions_are_strict_and_labels_speak_to_the_customer():
    bot, _, _ = await turn()
    definitions = await sync_to_async(tool_definitions)(bot=bot)
    names = {d["function"]["name"] for d in definitions}
    assert {"identify_customer", "get_order", "list_recent_orders", "search_faq"} <= names
    assert "handoff_to_human" in names
    for definition in definitions:
        function = definition["function"]
        assert function["strict"] is True
        assert function["parameters"]["additionalProperties"] is False
        assert set(function["parameters"]["required"]) == set(function["parameters"]["properties"])
        # Length and range limits are checked locally; strict mode refuses them.
        assert not {"minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"} & set(
            json.dumps(function["parameters"]).replace('"', " ").split()
        )
    assert tool_label(name="get_order", arguments={}) == "Looking up your order…"
    assert tool_label(name="search_faq") == "Searching the help center…"
    assert tool_label(name="handoff_to_human") == "Connecting you with a person…"
    with override_settings(SUPPORTBOT_ORDER_ACTIONS=False):
        names = {d["function"]["name"] for d in tool_definitions(bot=bot)}
    assert "cancel_order" not in names
