"""The offline engine: tools picked from the message, grounded answers, the same event stream."""

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from conversations.engine.backends import ModelRequest
from conversations.engine.backends.offline import offline_plan, order_describe
from conversations.engine.context import ENGINE_RULES
from conversations.models import Conversation, ConversationStatus, Customer, Message
from tests.conversations.engine.conftest import DEFINITIONS, ORDER, text_of, types

pytestmark = pytest.mark.django_db(transaction=True)


def plan(text, *, verified=False, history=(), tools=DEFINITIONS):
    customer = "verified by Demo Store as ann@example.com." if verified else "not verified."
    messages = [
        {"role": "system", "content": ENGINE_RULES.format(store="Demo Store", customer=customer)}
    ]
    for earlier in history:
        messages.append({"role": "user", "content": earlier})
        messages.append({"role": "assistant", "content": "ok"})
    messages.append({"role": "user", "content": text})
    request = ModelRequest(
        model="offline",
        messages=messages,
        tools=list(tools),
        max_tokens=100,
    )
    text, calls = offline_plan(request)
    return text, [(c.name, c.arguments) for c in calls]


@pytest.mark.parametrize(
    ("message", "verified", "history", "expected"),
    [
        (
            "Where is my order #W2611340?",
            True,
            (),
            [("get_order", '{"order_number": "#W2611340"}')],
        ),
        (
            "order #d1001, my email is ann@example.com",
            False,
            (),
            [
                (
                    "identify_customer",
                    '{"order_number": "#D1001", "email_or_zip": "ann@example.com"}',
                )
            ],
        ),
        (
            "10001",
            False,
            ("Status of #W2611340 please",),
            [("identify_customer", '{"order_number": "#W2611340", "email_or_zip": "10001"}')],
        ),
        ("Can I talk to a human please?", False, (), [("handoff_to_human", None)]),
        ("How long does shipping take to Canada?", False, (), [("search_faq", None)]),
        ("show my recent orders", True, (), [("list_recent_orders", "{}")]),
        (
            "Order #W2611340: can I return the lamp?",
            True,
            (),
            [("get_order", '{"order_number": "#W2611340"}'), ("search_faq", None)],
        ),
    ],
)
def test_tools_are_picked_from_the_message(message, verified, history, expected):
    text, calls = plan(message, verified=verified, history=history)
    assert text == ""
    assert [name for name, _ in calls] == [name for name, _ in expected]
    for (_, args), (_, expected_args) in zip(calls, expected, strict=True):
        if expected_args is not None:
            assert args == expected_args


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        ("hello!", "How can I help?"),
        ("thanks so much", "You're welcome"),
        ("my email is ann@example.com", "order number"),
    ],
)
def test_answers_without_tools_when_none_are_needed(message, needle):
    text, calls = plan(message)
    assert calls == [] and needle in text


def test_without_tools_it_says_it_does_not_know():
    text, calls = plan("What's the meaning of life?", tools=[])
    assert calls == [] and "rather not guess" in text and "human" in text


def test_an_order_is_described_from_its_data():
    text = order_describe(ORDER)
    assert "Order #W2611340 is delivered." in text
    assert "Water Bottle (capacity: 750ml): $24.50" in text
    assert "Total: $113.50." in text and "Tracking: 1Z999 (UPS)." in text


async def test_a_faq_question_end_to_end(offline_engine, conversation, say, fake_tools):
    events = await say(conversation, "What is your return policy for shoes?")
    # The tool round shows no bubble: status lines, then the answer's message opens.
    assert types(events)[:3] == ["tool.started", "tool.finished", "assistant.started"]
    assert events[2].engine == "offline"
    assert text_of(events) == "You can return unused items within 30 days for a full refund."
    done = events[-1]
    assert done.sources == [{"id": 7, "title": "What is your return policy?"}]
    assert done.cost_usd == "0.00000000" and done.prompt_tokens > 0
    rows = await sync_to_async(list)(Message.objects.filter(conversation=conversation))
    assert [m.role for m in rows] == ["customer", "assistant", "tool", "assistant"]
    assert rows[1].tool_calls[0]["name"] == "search_faq"
    assert rows[-1].engine == "offline" and rows[-1].state == "complete"


async def test_no_good_match_offers_a_human_instead_of_guessing(
    offline_engine, conversation, say, fake_tools
):
    fake_tools.faq_matches = False
    events = await say(conversation, "Do you sell spaceships to Mars?")
    assert "rather not guess" in events[-1].text and "human agent" in events[-1].text


async def test_verification_then_order_status_across_turns(
    offline_engine, conversation, say, fake_tools
):
    events = await say(conversation, "Where is order #W2611340?")
    assert "email address or ZIP code" in events[-1].text
    assert "Total" not in events[-1].text  # not visible before the proof
    events = await say(conversation, "ann@example.com")
    assert [e.tool for e in events if e.type == "tool.started"] == [
        "identify_customer",
        "get_order",
    ]
    assert "Order #W2611340 is delivered." in events[-1].text
    assert "1Z999" in events[-1].text
    events = await say(conversation, "and #W2611340 again?")  # proven in this conversation
    assert "Order #W2611340 is delivered." in events[-1].text


async def test_wrong_details_are_not_accepted(offline_engine, conversation, say, fake_tools):
    events = await say(conversation, "#W2611340 and my zip is 99999")
    assert "don't match" in events[-1].text
    assert [name for name, _ in fake_tools.calls] == ["identify_customer"]


async def test_a_verified_customer_gets_the_order_directly(
    offline_engine, conversation, say, fake_tools
):
    await Customer.objects.filter(pk=conversation.customer_id).aupdate(
        email="ann@example.com", verified_at=timezone.now()
    )
    events = await say(conversation, "status of #W2611340")
    assert [name for name, _ in fake_tools.calls] == ["get_order"]
    assert "Total: $113.50." in events[-1].text


async def test_asking_for_a_human_hands_off(offline_engine, conversation, say, fake_tools):
    events = await say(conversation, "I want to speak to a person")
    assert "human agent" in events[-1].text and events[-1].state == "complete"
    status = await Conversation.objects.values_list("status", flat=True).aget(pk=conversation.pk)
    assert status == ConversationStatus.WAITING


async def test_streams_in_word_sized_pieces(offline_engine, conversation, say):
    events = await say(conversation, "hi")
    deltas = [e.text for e in events if e.type == "assistant.delta"]
    assert len(deltas) > 10 and all(len(d.split()) == 1 for d in deltas)


@pytest.mark.parametrize(
    ("question", "grounded"),
    [
        ("do you sell spaceships?", False),
        ("can I pay with paypal", True),
        ("my package arrived damaged", True),
        ("what is your return policy", True),
    ],
)
def test_an_faq_answer_must_cover_the_question(question, grounded):
    from conversations.engine.backends.offline import faq_grounded

    entries = {
        "do you sell spaceships?": (
            "How do you protect my personal data?",
            "We don't sell personal data.",
        ),
        "can I pay with paypal": ("What payment methods do you accept?", "Cards and PayPal."),
        "my package arrived damaged": (
            "What if my item arrived damaged or defective?",
            "Send us a photo.",
        ),
        "what is your return policy": ("What is your return policy?", "30 days."),
    }
    entry_question, answer = entries[question]
    assert faq_grounded(question, {"question": entry_question, "answer": answer}) is grounded
