"""The customer panel: who, which orders (scoped like the tools), history, the bot's work."""

from django.utils import timezone

from conversations.agents.customer_panel import customer_panel
from conversations.agents.transcripts import transcript_messages
from conversations.domain.messages import message_append
from conversations.models import MessageRole, OrderAccessGrant, ReplyDraft, ToolRun
from tests import factories


def _verified_customer(bot, store_customer, **fields):
    return factories.customer_create(
        bot=bot,
        email=store_customer.email,
        name="Sam Shopper",
        verified_at=timezone.now(),
        **fields,
    )


def test_a_verified_customer_shows_their_own_orders_with_tracking_and_nobody_elses(bot):
    sam = factories.store_customer_create(bot=bot)
    mine = factories.order_create(bot=bot, customer=sam, tracking=["1Z999"])
    pending = factories.order_create(bot=bot, customer=sam, status="pending")
    factories.order_create(bot=bot)  # someone else's
    other_bot = factories.bot_create()
    factories.order_create(
        bot=other_bot, customer=factories.store_customer_create(bot=other_bot, email=sam.email)
    )
    conversation = factories.conversation_create(bot=bot, customer=_verified_customer(bot, sam))

    panel = customer_panel(conversation_id=conversation.pk)

    assert panel.verified and panel.verified_by == "signed email"
    assert {o.record.number for o in panel.orders} == {mine.number, pending.number}
    shown = next(o for o in panel.orders if o.record.number == mine.number)
    assert shown.tracking == [{"carrier": "UPS", "number": "1Z999"}]
    assert shown.record.status == "processed" and shown.why == "signed-in customer"
    fields = {f.label: f.verified for f in panel.identity}
    assert fields == {"Name": False, "Email": True}


def test_an_unverified_customer_shows_only_orders_proven_in_the_conversation(bot):
    sam = factories.store_customer_create(bot=bot)
    proven = factories.order_create(bot=bot, customer=sam)
    factories.order_create(bot=bot, customer=sam)  # same person, never proven here
    # The email is only claimed: it proves nothing and lists nothing.
    customer = factories.customer_create(bot=bot, email=sam.email)
    conversation = factories.conversation_create(bot=bot, customer=customer)
    assert customer_panel(conversation_id=conversation.pk).orders == []

    OrderAccessGrant.objects.create(conversation_id=conversation.pk, order_number=proven.number)
    panel = customer_panel(conversation_id=conversation.pk)

    assert not panel.verified
    assert [(o.record.number, o.why) for o in panel.orders] == [
        (proven.number, "proven in this conversation")
    ]
    assert [(f.label, f.verified) for f in panel.identity] == [("Email", False)]


def test_signed_external_id_is_what_verifies(bot):
    customer = factories.customer_create(
        bot=bot, email="a@example.com", external_id="cust_1", verified_at=timezone.now()
    )
    conversation = factories.conversation_create(bot=bot, customer=customer)
    panel = customer_panel(conversation_id=conversation.pk)
    assert panel.verified_by == "signed customer id"
    assert {f.label: f.verified for f in panel.identity} == {"Email": False, "Customer id": True}


def test_previous_conversations_link_the_same_visitor_or_the_same_verified_person(bot):
    sam = factories.store_customer_create(bot=bot)
    customer = _verified_customer(bot, sam)
    earlier = factories.conversation_create(bot=bot, customer=customer)
    # Sam on another device, verified as the same email.
    other_device = factories.conversation_create(bot=bot, customer=_verified_customer(bot, sam))
    # Someone who only typed Sam's email.
    factories.conversation_create(
        bot=bot, customer=factories.customer_create(bot=bot, email=sam.email)
    )
    current = factories.conversation_create(bot=bot, customer=customer)

    previous = customer_panel(conversation_id=current.pk).previous

    assert {c.pk for c in previous} == {earlier.pk, other_device.pk}


def test_summary_so_far_and_the_tools_the_bot_ran(conversation):
    message_append(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="Where is my order #W1?"
    )
    assistant, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    ToolRun.objects.create(
        conversation=conversation,
        message=assistant,
        call_id="c1",
        tool="get_order",
        arguments={"order_number": "#W1"},
        status="succeeded",
    )
    # A copilot draft's lookup is the agent's, not the bot's work.
    draft = ReplyDraft.objects.create(conversation=conversation, tools=["search_faq"])
    ToolRun.objects.create(
        conversation=conversation, draft=draft, call_id="c1", tool="search_faq", status="succeeded"
    )
    panel = customer_panel(conversation_id=conversation.pk)
    assert "order status" in panel.summary and "Where is my order" in panel.summary
    assert [(r["tool"], r["label"], r["status"]) for r in panel.tool_runs] == [
        ("get_order", "Looked up your order", "succeeded")
    ]


def test_a_drafts_run_hides_no_tool_message_of_the_bot_in_the_transcript(conversation):
    """The bot's tool messages show unless a run of the bot's own stands for them."""
    message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    message_append(
        conversation_id=conversation.pk, role=MessageRole.TOOL, text="{}", tool_call_id="call_1"
    )
    draft = ReplyDraft.objects.create(conversation=conversation, tools=["search_faq"])
    ToolRun.objects.create(
        conversation=conversation, draft=draft, call_id="call_1", tool="search_faq"
    )
    entries = transcript_messages(conversation_id=conversation.pk)
    assert [e["message"].role for e in entries] == [MessageRole.ASSISTANT, MessageRole.TOOL]
    assert all(e["tool_runs"] == [] for e in entries)
