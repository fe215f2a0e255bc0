"""Saved replies: searched by "/shortcut", scoped to the bot, placeholders filled in."""

from django.utils import timezone

from conversations.agents.saved_replies import saved_replies_search
from conversations.models import AgentProfile, SavedReply
from tests import factories


def test_placeholders_are_filled_for_this_conversation(bot, agent_user):
    sam = factories.store_customer_create(bot=bot)
    order = factories.order_create(bot=bot, customer=sam)
    customer = factories.customer_create(
        bot=bot, email=sam.email, name="Sam", verified_at=timezone.now()
    )
    conversation = factories.conversation_create(bot=bot, customer=customer)
    AgentProfile.objects.create(user=agent_user, display_name="Alice from Support")
    SavedReply.objects.create(
        title="Tracking",
        shortcut="tracking",
        text="Hi {customer_name}, order {order_number} is on its way. "
        "{agent_name} {not_a_placeholder}",
    )

    [reply] = saved_replies_search(conversation_id=conversation.pk, agent=agent_user, query="/tr")

    assert reply["shortcut"] == "tracking"
    assert reply["text"] == (
        f"Hi Sam, order {order.number} is on its way. Alice from Support {{not_a_placeholder}}"
    )


def test_search_is_scoped_to_the_bot_and_matches_shortcut_or_title(bot, agent_user):
    conversation = factories.conversation_create(bot=bot)
    SavedReply.objects.create(title="Refund policy", shortcut="refund", text="30 days.")
    SavedReply.objects.create(title="Greeting", shortcut="hello", text="Hi {customer_name}!")
    SavedReply.objects.create(
        title="Other store", shortcut="other", text="no", bot=factories.bot_create()
    )

    everything = saved_replies_search(conversation_id=conversation.pk, agent=agent_user)
    assert [r["shortcut"] for r in everything] == ["hello", "refund"]
    assert everything[0]["text"] == "Hi there!"  # an anonymous customer has no name
    assert [
        r["shortcut"]
        for r in saved_replies_search(
            conversation_id=conversation.pk, agent=agent_user, query="policy"
        )
    ] == ["refund"]
    assert (
        saved_replies_search(conversation_id=conversation.pk, agent=agent_user, query="other") == []
    )


def test_an_order_placeholder_without_a_visible_order_stays_for_the_agent_to_fill(bot, agent_user):
    conversation = factories.conversation_create(bot=bot)
    SavedReply.objects.create(title="Order", shortcut="order", text="Order {order_number}")
    [reply] = saved_replies_search(conversation_id=conversation.pk, agent=agent_user)
    assert reply["text"] == "Order {order_number}"
