"""Guessing an order's email or zip: limited per conversation, order, visitor and IP, atomically."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from conversations.domain.messages import message_append
from conversations.models import Conversation, MessageRole
from conversations.tools import ToolCall, tool_calls_execute
from conversations.tools.orders import identify_customer
from conversations.tools.runs import tool_context_for
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

LIMITS = {
    "SUPPORTBOT_ORDER_PROOF_MAX_FAILURES": 5,
    "SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_ORDER": 8,
    "SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_VISITOR": 10,
    "SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_IP": 20,
}


@pytest.fixture(autouse=True)
def limits(settings):
    for name, value in LIMITS.items():
        setattr(settings, name, value)


def conversation_from(bot, *, customer=None, ip=""):
    conversation = factories.conversation_create(bot=bot, customer=customer)
    if ip:
        from conversations.tools.access import client_key

        Conversation.objects.filter(pk=conversation.pk).update(client_key=client_key(ip))
    return tool_context_for(conversation_id=conversation.pk)


def guess(context, number, proof="00000"):
    return identify_customer(context=context, order_number=number, email_or_zip=proof).data


def test_a_new_conversation_does_not_reset_the_guesses_at_one_order(bot):
    order = factories.order_create(bot=bot)
    answers = [guess(conversation_from(bot), order.number)["reason"] for _ in range(12)]
    assert answers == ["no_match"] * 8 + ["too_many_attempts"] * 4
    # The right zip is refused too while the order is locked: guessing must not pay.
    right = guess(conversation_from(bot), order.number, order.customer.address["zip"])
    assert right["verified"] is False and right["reason"] == "too_many_attempts"


def test_one_visitor_guessing_many_orders_is_stopped_across_conversations(bot):
    visitor = factories.customer_create(bot=bot)
    orders = [factories.order_create(bot=bot) for _ in range(12)]
    answers = [
        guess(conversation_from(bot, customer=visitor), order.number)["reason"] for order in orders
    ]
    assert answers == ["no_match"] * 10 + ["too_many_attempts"] * 2


def test_one_address_guessing_as_many_visitors_is_stopped(bot):
    orders = [factories.order_create(bot=bot) for _ in range(22)]
    answers = [
        guess(conversation_from(bot, ip="203.0.113.9"), order.number)["reason"] for order in orders
    ]
    assert answers == ["no_match"] * 20 + ["too_many_attempts"] * 2
    # Someone else, elsewhere, is not held up.
    other = guess(conversation_from(bot, ip="198.51.100.7"), orders[0].number)
    assert other["reason"] == "no_match"


def test_a_successful_proof_does_not_count_against_anyone(bot):
    order = factories.order_create(bot=bot)
    context = conversation_from(bot)
    for _ in range(10):
        assert guess(context, order.number, order.customer.email)["verified"] is True


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
async def test_parallel_guesses_do_not_overshoot_the_limit():
    bot = await sync_to_async(factories.bot_create)()
    order = await sync_to_async(factories.order_create)(bot=bot)
    conversation = await sync_to_async(factories.conversation_create)(bot=bot)
    message, _ = await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.ASSISTANT
    )
    calls = [
        ToolCall(
            id=f"call_{n}",
            name="identify_customer",
            arguments=json.dumps({"order_number": order.number, "email_or_zip": f"0000{n}"}),
        )
        for n in range(8)
    ]
    outcomes = [
        o
        async for o in tool_calls_execute(
            conversation_id=conversation.pk, message_id=message.pk, calls=calls
        )
    ]
    reasons = sorted(o.data["reason"] for o in outcomes)
    assert reasons == ["no_match"] * 5 + ["too_many_attempts"] * 3


def test_widget_conversations_carry_their_address_key_not_the_address(client, bot):
    from conversations.tools.access import client_key

    started = client.post(
        f"/widget/{bot.public_key}/session",
        data=json.dumps({"visitor_id": "v" * 20}),
        content_type="text/plain",
        HTTP_ORIGIN="http://testserver",
        REMOTE_ADDR="203.0.113.9",
    )
    assert started.status_code == 201, started.content
    conversation = Conversation.objects.get(pk=started.json()["conversation_id"])
    assert conversation.client_key == client_key("203.0.113.9")
    assert "203.0.113.9" not in conversation.client_key


def test_expired_counts_are_deleted_and_live_ones_still_lock(bot, settings):
    from datetime import timedelta

    from django.utils import timezone

    from conversations.agents.tasks import order_proof_limits_expire_task
    from conversations.models import OrderProofLimit

    old, locked = factories.order_create(bot=bot), factories.order_create(bot=bot)
    for _ in range(3):
        guess(conversation_from(bot), old.number)
    for _ in range(8):
        guess(conversation_from(bot), locked.number)
    old_scope, locked_scope = (
        f"order:{bot.pk}:{o.number.casefold().lstrip('#')}" for o in (old, locked)
    )
    past = timezone.now() - timedelta(seconds=settings.SUPPORTBOT_ORDER_PROOF_WINDOW + 60)
    OrderProofLimit.objects.filter(scope=old_scope).update(window_start=past)

    assert order_proof_limits_expire_task.apply().get() >= 1
    scopes = set(OrderProofLimit.objects.values_list("scope", flat=True))
    assert old_scope not in scopes and locked_scope in scopes
    assert guess(conversation_from(bot), locked.number)["reason"] == "too_many_attempts"
    assert guess(conversation_from(bot), old.number)["reason"] == "no_match"
