"""A reply's tool calls after a person took the conversation over, or it was closed.

The reply's rows stop at the owner check, but its tool calls are rows already queued for a
worker: an agent claiming the conversation (or a close) between the call and its run must not
let the bot propose an order action, prove an order or hand off over the person now answering.
A proposal made then would come back as a confirm card on the customer's next page load.
"""

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.domain.status import conversation_claim, conversation_close, handoff_request
from conversations.models import Conversation, MessageRole, OrderAction, ToolRun
from conversations.tools import ToolCall, tool_calls_execute
from conversations.tools.actions import order_proposals_waiting
from conversations.tools.runs import tool_run_execute, tool_run_prepare
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


def customer_with_order():
    """A signed-in customer's conversation, their pending order, and the bot's turn."""
    bot = factories.bot_create()
    order = factories.order_create(bot=bot, status="pending")
    customer = factories.customer_create(
        bot=bot, email=order.customer.email, verified_at=timezone.now()
    )
    conversation = factories.conversation_create(bot=bot, customer=customer)
    message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    return conversation, order, message


def agent():
    return get_user_model().objects.create_user("agent-red", is_staff=True)


CANCEL = "cancel_order"


def cancel_call(order, n=1):
    arguments = {"order_number": order.number, "reason": "no longer needed"}
    return ToolCall(id=f"call_{n}", name=CANCEL, arguments=json.dumps(arguments))


@pytest.mark.parametrize("change", ["claimed", "closed"])
def test_a_run_queued_before_a_takeover_does_nothing_after_it(change):
    """The window the owner checks leave: called while the bot owned it, run after."""
    conversation, order, message = customer_with_order()
    call = cancel_call(order)
    prepared = tool_run_prepare(
        conversation_id=conversation.pk,
        call_id=call.id,
        name=call.name,
        arguments_json=call.arguments,
        message_id=message.pk,
    )
    assert prepared.status == "queued"
    if change == "claimed":
        conversation_claim(conversation_id=conversation.pk, agent=agent())
    else:
        conversation_close(conversation_id=conversation.pk, closed_by="agent")
    assert tool_run_execute(run_id=prepared.run_id) == "invalid"
    run = ToolRun.objects.get(pk=prepared.run_id)
    assert run.result["data"]["error"] == "tool_not_available"
    assert not OrderAction.objects.exists()
    assert order_proposals_waiting(conversation_id=conversation.pk) == []


async def test_calls_made_after_a_takeover_are_refused_whatever_they_are():
    """A round recorded while a person owns it (rows written any other way): nothing runs."""
    conversation, order, message = await sync_to_async(customer_with_order)()
    await sync_to_async(conversation_claim)(
        conversation_id=conversation.pk, agent=await sync_to_async(agent)()
    )
    calls = [
        cancel_call(order, 1),
        ToolCall(
            id="call_2",
            name="identify_customer",
            arguments=json.dumps({"order_number": order.number, "email_or_zip": "00000"}),
        ),
        ToolCall(id="call_3", name="handoff_to_human", arguments='{"summary": "spam"}'),
        ToolCall(id="call_4", name="get_order", arguments=json.dumps({"order_number": "1"})),
    ]
    outcomes = [
        o
        async for o in tool_calls_execute(
            conversation_id=conversation.pk, message_id=message.pk, calls=calls
        )
    ]
    assert {o.data.get("error") for o in outcomes} == {"tool_not_available"}
    assert not await OrderAction.objects.aexists()
    assert await ToolRun.objects.filter(status="invalid").acount() == len(calls)
    assert (await Conversation.objects.aget(pk=conversation.pk)).status == "agent"


def test_while_waiting_for_a_person_the_bot_may_look_up_but_not_propose():
    """After a hand-off the bot may finish its answer with lookups, never act again."""
    conversation, order, message = customer_with_order()
    handoff_request(conversation_id=conversation.pk, summary="customer asked", requested_by="bot")
    runs = {}
    for n, (name, arguments) in enumerate(
        [
            (CANCEL, {"order_number": order.number, "reason": "no longer needed"}),
            ("get_order", {"order_number": order.number}),
            ("handoff_to_human", {"summary": "again"}),
        ]
    ):
        prepared = tool_run_prepare(
            conversation_id=conversation.pk,
            call_id=f"w{n}",
            name=name,
            arguments_json=json.dumps(arguments),
            message_id=message.pk,
        )
        if prepared.status == "queued":
            tool_run_execute(run_id=prepared.run_id)
        runs[name] = ToolRun.objects.get(pk=prepared.run_id)
    assert runs[CANCEL].status == "invalid"
    assert runs["get_order"].status == "succeeded"
    assert runs["get_order"].result["data"]["order"]["number"] == order.number
    assert runs["handoff_to_human"].status == "invalid"
    assert not OrderAction.objects.exists()
