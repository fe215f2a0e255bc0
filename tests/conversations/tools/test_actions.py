"""Order actions: the model proposes, only the customer's answer to the card carries it out."""

import pytest
from django.test import override_settings

from conversations.domain.errors import DomainError
from conversations.models import Message, MessageRole, Order, OrderAction
from conversations.tools.actions import cancel_order, order_action_decide, start_return
from conversations.tools.orders import identify_customer
from conversations.tools.runs import tool_context_for
from tests import factories

pytestmark = pytest.mark.django_db


def proven(conversation, order):
    context = tool_context_for(conversation_id=conversation.pk)
    identify_customer(context=context, order_number=order.number, email_or_zip=order.customer.email)
    return context


def test_cancelling_is_a_proposal_until_the_customer_confirms_the_card(bot, conversation):
    order = factories.order_create(bot=bot, status="pending")
    context = proven(conversation, order)
    proposal = cancel_order(context=context, order_number=order.number, reason="no longer needed")
    assert proposal.data["confirmation_required"] is True
    assert Order.objects.get(pk=order.pk).status == "pending"

    action = order_action_decide(
        conversation_id=conversation.pk, action_id=proposal.data["action_id"], decision="confirm"
    )

    assert action.status == "done"
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert list(order.payments.values_list("transaction_type", flat=True)) == [
        "payment",
        "refund",
    ]
    # The model is told, in the conversation, what the customer chose.
    note = Message.objects.get(conversation=conversation, role=MessageRole.EVENT)
    assert note.event == "order_action" and "done" in note.text
    # The same card again changes nothing.
    again = order_action_decide(
        conversation_id=conversation.pk, action_id=proposal.data["action_id"], decision="confirm"
    )
    assert again.status == "done"
    assert order.payments.filter(transaction_type="refund").count() == 1


def test_a_declined_or_foreign_card_changes_nothing(bot, conversation):
    order = factories.order_create(bot=bot, status="pending")
    context = proven(conversation, order)
    action_id = cancel_order(
        context=context, order_number=order.number, reason="ordered by mistake"
    ).data["action_id"]
    other = factories.conversation_create(bot=bot)
    with pytest.raises(DomainError):
        order_action_decide(conversation_id=other.pk, action_id=action_id, decision="confirm")
    with pytest.raises(DomainError):
        order_action_decide(conversation_id=conversation.pk, action_id=action_id, decision="yes")
    declined = order_action_decide(
        conversation_id=conversation.pk, action_id=action_id, decision="decline"
    )
    assert declined.status == "declined"
    late = order_action_decide(
        conversation_id=conversation.pk, action_id=action_id, decision="confirm"
    )
    assert late.status == "declined"
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_an_order_that_changed_since_the_card_is_refused(bot, conversation):
    order = factories.order_create(bot=bot, status="pending")
    context = proven(conversation, order)
    first = cancel_order(context=context, order_number=order.number, reason="no longer needed")
    second = cancel_order(context=context, order_number=order.number, reason="ordered by mistake")
    for proposal in (first, second):
        order_action_decide(
            conversation_id=conversation.pk,
            action_id=proposal.data["action_id"],
            decision="confirm",
        )
    assert list(OrderAction.objects.order_by("created_at").values_list("status", flat=True)) == [
        "done",
        "refused",
    ]
    assert Order.objects.get(pk=order.pk).payments.filter(transaction_type="refund").count() == 1
    with override_settings(SUPPORTBOT_ORDER_ACTIONS=False):
        delivered = factories.order_create(bot=bot, status="delivered")
        context = proven(conversation, delivered)
        item = delivered.lines.first().item_id
        proposal = start_return(context=context, order_number=delivered.number, item_ids=[item])
        refused = order_action_decide(
            conversation_id=conversation.pk,
            action_id=proposal.data["action_id"],
            decision="confirm",
        )
    assert refused.status == "refused"
    assert Order.objects.get(pk=delivered.pk).status == "delivered"


def test_only_pending_orders_cancel_and_only_visible_ones_at_all(bot, conversation):
    shipped = factories.order_create(bot=bot, status="processed")
    context = proven(conversation, shipped)
    refused = cancel_order(context=context, order_number=shipped.number, reason="no longer needed")
    assert refused.data["error"] == "not_cancellable"
    hidden = factories.order_create(bot=bot, status="pending")
    assert (
        cancel_order(context=context, order_number=hidden.number, reason="no longer needed").data[
            "error"
        ]
        == "not_found_or_not_verified"
    )


def test_a_return_names_items_of_the_order_and_waits_for_the_card(bot, conversation):
    order = factories.order_create(bot=bot, status="delivered")
    context = proven(conversation, order)
    item = order.lines.first().item_id
    unknown = start_return(context=context, order_number=order.number, item_ids=["nope"])
    assert unknown.data["error"] == "unknown_items"
    proposal = start_return(context=context, order_number=order.number, item_ids=[item])
    assert Order.objects.get(pk=order.pk).status == "delivered"
    done = order_action_decide(
        conversation_id=conversation.pk, action_id=proposal.data["action_id"], decision="confirm"
    )
    assert done.status == "done" and done.result["return_started"] is True
    assert Order.objects.get(pk=order.pk).status == "return requested"
