"""The races again on PostgreSQL, with the tools on a real `celery worker` process."""

import json
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import override_settings

from conversations.domain.messages import message_append
from conversations.models import MessageRole, Order, OrderAction, ToolRun
from conversations.tools import ToolCall, tool_calls_execute
from conversations.tools.actions import order_action_decide
from conversations.tools.orders import identify_customer
from conversations.tools.runs import tool_context_for
from tests import factories
from tests.celery_worker import celery_worker_running
from tests.conftest import requires_postgres, requires_redis

pytestmark = [
    requires_redis,
    requires_postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def worker(django_db_setup):
    with celery_worker_running(
        queue="tools",
        name="security-test",
        concurrency=4,
        env={"SUPPORTBOT_ORDER_PROOF_MAX_FAILURES": "5"},
    ) as process:
        yield process


@sync_to_async
def a_conversation(*, status="pending", prove=False):
    bot = factories.bot_create()
    order = factories.order_create(bot=bot, status=status)
    conversation = factories.conversation_create(bot=bot)
    if prove:
        context = tool_context_for(conversation_id=conversation.pk)
        identify_customer(
            context=context, order_number=order.number, email_or_zip=order.customer.email
        )
    return conversation, order


async def run_round(conversation, calls):
    message, _ = await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.ASSISTANT
    )
    return [
        o
        async for o in tool_calls_execute(
            conversation_id=conversation.pk, message_id=message.pk, calls=calls
        )
    ]


def call(n, name, **arguments):
    return ToolCall(id=f"call_{n}", name=name, arguments=json.dumps(arguments))


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
async def test_parallel_guesses_on_the_worker_stop_at_the_limit(worker):
    conversation, order = await a_conversation()
    outcomes = await run_round(
        conversation,
        [
            call(n, "identify_customer", order_number=order.number, email_or_zip=f"0000{n}")
            for n in range(8)
        ],
    )
    reasons = sorted(o.data["reason"] for o in outcomes)
    assert reasons == ["no_match"] * 5 + ["too_many_attempts"] * 3
    workers = {r.worker async for r in ToolRun.objects.filter(conversation_id=conversation.pk)}
    assert len(workers) == 1 and workers.pop().startswith("security-test@")


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
async def test_parallel_proposals_on_the_worker_and_parallel_clicks_cancel_once(worker):
    conversation, order = await a_conversation(prove=True)
    cancel = {"order_number": order.number, "reason": "no longer needed"}
    outcomes = await run_round(
        conversation,
        [call(n, "cancel_order", **cancel) for n in range(4)]
        + [call(9, "cancel_order", **cancel, confirmed=True)],
    )
    action_ids = [o.data["action_id"] for o in outcomes if o.data.get("confirmation_required")]
    assert len(action_ids) == 4
    assert (await Order.objects.aget(pk=order.pk)).status == "pending"

    def click(action_id):
        try:
            order_action_decide(
                conversation_id=conversation.pk, action_id=action_id, decision="confirm"
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(a,)) for a in action_ids * 3]

    def run_all():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    await sync_to_async(run_all)()
    statuses = sorted([a.status async for a in OrderAction.objects.filter(pk__in=action_ids)])
    assert statuses == ["done", "refused", "refused", "refused"]
    refunds = await sync_to_async(
        lambda: Order.objects.get(pk=order.pk).payments.filter(transaction_type="refund").count()
    )()
    assert refunds == 1
