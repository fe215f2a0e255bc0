"""Order actions against a model that calls anything, any number of times, in parallel."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from conversations.domain.messages import message_append
from conversations.models import MessageRole, Order, ToolRun
from conversations.tools import ToolCall, tool_calls_execute
from conversations.tools.orders import identify_customer
from conversations.tools.runs import tool_context_for
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


def call(n, name, **arguments):
    return ToolCall(id=f"call_{n}", name=name, arguments=json.dumps(arguments))


@sync_to_async
def a_proven_order(*, status="pending"):
    bot = factories.bot_create()
    order = factories.order_create(bot=bot, status=status)
    conversation = factories.conversation_create(bot=bot)
    context = tool_context_for(conversation_id=conversation.pk)
    identify_customer(context=context, order_number=order.number, email_or_zip=order.customer.email)
    return conversation, order


@sync_to_async
def assistant_turn(conversation):
    message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    return message


@sync_to_async
def customer_says(conversation, text):
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text)


async def run_round(conversation, calls):
    message = await assistant_turn(conversation)
    return [
        o
        async for o in tool_calls_execute(
            conversation_id=conversation.pk, message_id=message.pk, calls=calls
        )
    ]


@sync_to_async
def refunds(order):
    order = Order.objects.get(pk=order.pk)
    return order.status, list(
        order.payments.filter(transaction_type="refund").values_list("amount", flat=True)
    )


async def test_a_disabled_tool_is_refused_when_the_model_calls_it_anyway():
    conversation, order = await a_proven_order()
    cancel = {"order_number": order.number, "reason": "no longer needed", "confirmed": True}
    await run_round(conversation, [call(1, "cancel_order", **{**cancel, "confirmed": False})])
    await customer_says(conversation, "yes")
    with override_settings(SUPPORTBOT_ORDER_ACTIONS=False):
        outcomes = await run_round(conversation, [call(2, "cancel_order", **cancel)])
    assert outcomes[0].data["error"] == "tool_not_available"
    assert await refunds(order) == ("pending", [])
    run = await ToolRun.objects.aget(call_id="call_2", conversation_id=conversation.pk)
    assert run.status == "invalid"


async def test_parallel_confirmed_cancellations_cancel_and_refund_at_most_once():
    conversation, order = await a_proven_order()
    cancel = {"order_number": order.number, "reason": "no longer needed"}
    await run_round(conversation, [call(1, "cancel_order", **cancel, confirmed=False)])
    await customer_says(conversation, "yes")
    await run_round(
        conversation, [call(n, "cancel_order", **cancel, confirmed=True) for n in range(2, 6)]
    )
    _, refunded = await refunds(order)
    assert len(refunded) <= 1
    # A replay of the same round, and another later, change nothing more.
    await run_round(
        conversation, [call(n, "cancel_order", **cancel, confirmed=True) for n in range(6, 9)]
    )
    assert len((await refunds(order))[1]) <= 1


async def test_parallel_confirmed_returns_start_at_most_one_return():
    conversation, order = await a_proven_order(status="delivered")
    item = await sync_to_async(lambda: order.lines.first().item_id)()
    ret = {"order_number": order.number, "item_ids": [item]}
    await run_round(conversation, [call(1, "start_return", **ret, confirmed=False)])
    await customer_says(conversation, "yes")
    outcomes = await run_round(
        conversation, [call(n, "start_return", **ret, confirmed=True) for n in range(2, 6)]
    )
    started = [o for o in outcomes if o.data.get("return_started")]
    assert len(started) <= 1


async def test_the_model_cannot_confirm_what_the_customer_refused():
    conversation, order = await a_proven_order()
    cancel = {"order_number": order.number, "reason": "no longer needed"}
    await run_round(conversation, [call(1, "cancel_order", **cancel, confirmed=False)])
    await customer_says(conversation, "NO, do not cancel")
    await run_round(conversation, [call(2, "cancel_order", **cancel, confirmed=True)])
    assert await refunds(order) == ("pending", [])
