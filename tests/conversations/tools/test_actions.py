"""Order actions: nothing changes until the customer confirmed the exact details here."""

import pytest

from conversations.domain.messages import message_append
from conversations.models import MessageRole, Order, ToolRun, ToolRunStatus
from conversations.tools.actions import cancel_order, start_return
from conversations.tools.orders import identify_customer
from conversations.tools.runs import result_capped, tool_context_for
from tests import factories

pytestmark = pytest.mark.django_db


def proven(conversation, order):
    context = tool_context_for(conversation_id=conversation.pk)
    identify_customer(context=context, order_number=order.number, email_or_zip=order.customer.email)
    return context


def record(conversation, tool, arguments, result):
    """Store a run the way the execution layer does, in the assistant turn that made it."""
    message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    ToolRun.objects.create(
        conversation=conversation,
        message=message,
        call_id=f"call_{message.seq}",
        tool=tool,
        arguments=arguments,
        result=result_capped(data=result.data, sources=result.sources),
        status=ToolRunStatus.SUCCEEDED,
    )


def test_cancelling_needs_a_proposal_and_the_customers_answer(bot, conversation):
    order = factories.order_create(bot=bot, status="pending")
    context = proven(conversation, order)
    arguments = {"order_number": order.number, "reason": "no longer needed"}

    # The model claims the customer confirmed, but nothing was proposed: only a proposal.
    first = cancel_order(context=context, confirmed=True, **arguments)
    assert first.data["confirmation_required"] is True
    record(conversation, "cancel_order", arguments, first)
    # Confirmed again before the customer said anything: still only a proposal.
    assert cancel_order(context=context, confirmed=True, **arguments).data.get(
        "confirmation_required"
    )
    order.refresh_from_db()
    assert order.status == "pending"

    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="yes")
    done = cancel_order(context=context, confirmed=True, **arguments)

    assert done.data["cancelled"] is True
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert list(order.payments.values_list("transaction_type", flat=True)) == [
        "payment",
        "refund",
    ]


def test_a_confirmation_covers_only_the_details_proposed(bot, conversation):
    order = factories.order_create(bot=bot, status="pending")
    context = proven(conversation, order)
    proposal = cancel_order(
        context=context, order_number=order.number, reason="no longer needed", confirmed=False
    )
    record(conversation, "cancel_order", {}, proposal)
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="yes")
    other = cancel_order(
        context=context, order_number=order.number, reason="ordered by mistake", confirmed=True
    )
    assert other.data["confirmation_required"] is True
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_only_pending_orders_cancel_and_only_visible_ones_at_all(bot, conversation):
    shipped = factories.order_create(bot=bot, status="processed")
    context = proven(conversation, shipped)
    refused = cancel_order(
        context=context, order_number=shipped.number, reason="no longer needed", confirmed=False
    )
    assert refused.data["error"] == "not_cancellable"
    hidden = factories.order_create(bot=bot, status="pending")
    assert (
        cancel_order(
            context=context, order_number=hidden.number, reason="no longer needed", confirmed=True
        ).data["error"]
        == "not_found_or_not_verified"
    )


def test_a_return_names_items_of_the_order_and_waits_for_confirmation(bot, conversation):
    order = factories.order_create(bot=bot, status="delivered")
    context = proven(conversation, order)
    item = order.lines.first().item_id
    unknown = start_return(
        context=context, order_number=order.number, item_ids=["nope"], confirmed=False
    )
    assert unknown.data["error"] == "unknown_items"
    proposal = start_return(
        context=context, order_number=order.number, item_ids=[item], confirmed=False
    )
    record(conversation, "start_return", {}, proposal)
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="yes please")
    done = start_return(context=context, order_number=order.number, item_ids=[item], confirmed=True)
    assert done.data["return_started"] is True
    assert Order.objects.get(pk=order.pk).status == "return requested"
