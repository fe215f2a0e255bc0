"""The offline engine: tools picked from the message, grounded answers, the same event stream."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from conversations.engine.backends import ModelRequest
from conversations.engine.backends.offline import offline_plan, order_describe
from conversations.engine.context import ENGINE_RULES
from conversations.models import Conversation, ConversationStatus, Customer, Message
from tests.conversations.engine.conftest import DEFINITIONS, ORDER, _schema, text_of, types

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


def test_a_customer_writing_another_language_is_told_which_one_it_understands():
    text, calls = plan("Hallo, wie kann ich meine Bestellung zurückgeben?", tools=())
    assert not calls
    assert "Ich verstehe nur Englisch, die Sprache unserer FAQ" in text
    english, _ = plan("Hello, how can I return my order?", tools=())
    assert english and "understand" not in english and "Englisch" not in english


async def test_the_note_comes_after_a_grounded_answer(
    offline_engine, conversation, say, fake_tools
):
    events = await say(conversation, "Was ist die Rückgabe policy für Schuhe? Ich habe die Größe")
    text = text_of(events)
    answer, note = text.rsplit("\n\n", 1)
    assert answer and "Ich verstehe nur Englisch" not in answer
    assert note.startswith("_Hinweis: Ich verstehe nur Englisch") and note.endswith("Menschen._")


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
        email="ann@example.com", verified_at=timezone.now(), verified_by="email"
    )
    # As if the conversation had started with the host's signature over that email.
    await Conversation.objects.filter(pk=conversation.pk).aupdate(verified_at=timezone.now())
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


def plan_after(bot_said, text, *, tools=DEFINITIONS):
    messages = [
        {"role": "system", "content": "x"},
        {"role": "user", "content": "something"},
        {"role": "assistant", "content": bot_said},
        {"role": "user", "content": text},
    ]
    request = ModelRequest(model="offline", messages=messages, tools=list(tools), max_tokens=100)
    text, calls = offline_plan(request)
    return text, [(c.name, c.arguments) for c in calls]


@pytest.mark.parametrize("reply", ["yes please", "Yes", "sure", "ok go ahead", "yeah"])
def test_yes_to_its_own_offer_of_a_human_hands_off(reply):
    from conversations.engine.backends.offline import I_DONT_KNOW

    _, calls = plan_after(I_DONT_KNOW, reply)
    assert [name for name, _ in calls] == ["handoff_to_human"]


@pytest.mark.parametrize("reply", ["no thanks", "No", "nope, I'm good"])
def test_no_to_its_own_offer_is_understood(reply):
    from conversations.engine.backends.offline import I_DONT_KNOW

    text, calls = plan_after(I_DONT_KNOW, reply)
    assert calls == [] and "anything else" in text


def test_a_yes_without_an_offer_is_just_a_question():
    _, calls = plan_after("Standard shipping takes 3-5 days.", "yes please")
    assert [name for name, _ in calls] != ["handoff_to_human"]


@pytest.mark.parametrize(
    ("reply", "picked"),
    [("the first one", "Is shipping free?"), ("2", "Is return shipping free?")],
)
def test_a_pick_after_a_clarifying_question_searches_that_entry(reply, picked):
    from conversations.engine.backends.offline import _faq_reply

    offer = _faq_reply(
        {
            "matches": [
                {"question": "Is shipping free?"},
                {"question": "Is return shipping free?"},
            ],
            "no_good_match": False,
            "ambiguous": True,
        }
    )
    _, calls = plan_after(offer, reply)
    assert calls == [("search_faq", json.dumps({"question": picked}))]


def test_the_faq_reply_follows_the_router():
    from conversations.engine.backends.offline import I_DONT_KNOW, _faq_reply

    match = {"question": "Q?", "answer": "A.", "alternatives": ["q"], "confidence": 0.9}
    assert _faq_reply({"matches": [match], "no_good_match": False}) == "A."
    assert _faq_reply({"matches": [], "no_good_match": True}) == I_DONT_KNOW
    other = {"question": "R?", "answer": "B."}
    assert "1) Q? or 2) R?" in _faq_reply(
        {"matches": [match, other], "no_good_match": False, "ambiguous": True}
    )


ACTION_TOOLS = [
    *DEFINITIONS,
    _schema("cancel_order", {"order_number": {"type": "string"}, "reason": {"type": "string"}}),
    _schema("start_return", {"order_number": {"type": "string"}, "item_ids": {"type": "array"}}),
]
PENDING = {**ORDER, "status": "pending", "items": [{**ORDER["items"][0], "item_id": "bottle-1"}]}


def plan_after_rounds(said, rounds, *, then=None, tools=ACTION_TOOLS):
    """The next step once tool rounds answered the customer's messages `said`; `rounds` is a
    list of rounds, each a list of (tool name, arguments, result data)."""
    messages = [{"role": "system", "content": "x"}]
    for n, text in enumerate(said):
        if n:
            messages.append({"role": "assistant", "content": "ok"})
        messages.append({"role": "user", "content": text})
    for r, calls in enumerate(rounds):
        ids = [f"call_{r}_{n}" for n in range(len(calls))]
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": i, "type": "function", "function": {"name": c[0], "arguments": c[1]}}
                    for i, c in zip(ids, calls, strict=True)
                ],
            }
        )
        messages += [
            {"role": "tool", "tool_call_id": i, "content": json.dumps(c[2])}
            for i, c in zip(ids, calls, strict=True)
        ]
    if then:
        messages += then
    request = ModelRequest(model="offline", messages=messages, tools=list(tools), max_tokens=100)
    text, calls = offline_plan(request)
    return text, [(c.name, json.loads(c.arguments)) for c in calls]


@pytest.mark.parametrize(
    "message",
    ["Please cancel #W2611340", "I want to cancel order #W2611340, I ordered it by mistake"],
)
def test_a_cancellation_looks_the_order_up_without_the_faq(message):
    text, calls = plan(message, verified=True, tools=ACTION_TOOLS)
    assert text == "" and [name for name, _ in calls] == ["get_order"]


def test_a_visible_order_the_customer_wants_cancelled_is_proposed():
    lookup = ("get_order", '{"order_number": "#W2611340"}', {"order": PENDING})
    _, calls = plan_after_rounds(["Cancel #W2611340, I ordered it by mistake"], [[lookup]])
    assert calls == [
        ("cancel_order", {"order_number": "#W2611340", "reason": "ordered by mistake"})
    ]
    # Asked before the proof: the message that named the order says what was wanted.
    proof = ("identify_customer", "{}", {"verified": True, "order_number": "#W2611340"})
    said = ["I want to cancel order #W2611340", "ann@example.com"]
    _, calls = plan_after_rounds(said, [[proof]])
    assert [name for name, _ in calls] == ["get_order"]
    _, calls = plan_after_rounds(said, [[proof], [lookup]])
    assert calls == [("cancel_order", {"order_number": "#W2611340", "reason": "no longer needed"})]


def test_a_return_is_proposed_for_every_item_and_a_question_stays_a_question():
    delivered = {**ORDER, "items": [{**i, "item_id": str(n)} for n, i in enumerate(ORDER["items"])]}
    lookup = ("get_order", "{}", {"order": delivered})
    _, calls = plan_after_rounds(["I'd like to return order #W2611340"], [[lookup]])
    assert calls == [("start_return", {"order_number": "#W2611340", "item_ids": ["0", "1"]})]
    text, calls = plan_after_rounds(["Order #W2611340: can I return the lamp?"], [[lookup]])
    assert calls == [] and "Order #W2611340 is delivered." in text
    # Without the action tools (SUPPORTBOT_ORDER_ACTIONS=0) the order is described.
    text, calls = plan_after_rounds(["Cancel #W2611340"], [[lookup]], tools=DEFINITIONS)
    assert calls == [] and "Order #W2611340 is delivered." in text


def test_the_customer_is_told_to_answer_the_card_or_why_there_is_none():
    proposed = {
        "confirmation_required": True,
        "action_id": "a1",
        "details": {"order_number": "#W2611340", "reason": "no longer needed"},
        "message": "Nothing has changed yet. The customer now sees a card ...",
    }
    text, calls = plan_after_rounds(["Cancel #W2611340"], [[("cancel_order", "{}", proposed)]])
    assert calls == []
    assert '"Cancel the order"' in text and "nothing changes until you do" in text
    assert "The customer now sees" not in text  # the tool's words are for a model
    refused = {"error": "not_cancellable", "status": "delivered", "message": "offer a return"}
    call = ("cancel_order", '{"order_number": "#W2611340"}', refused)
    text, _ = plan_after_rounds(["Cancel #W2611340"], [[call]])
    assert "This order is delivered, so it can't be cancelled" in text
    assert 'return it instead: say "return order #W2611340".' in text
    assert "Once it is delivered" not in text
    shipped = {**refused, "status": "processed"}
    call = ("cancel_order", '{"order_number": "#W2611340"}', shipped)
    text, _ = plan_after_rounds(["Cancel #W2611340"], [[call]])
    assert "Once it is delivered you can return it." in text


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("done", "Done: order #W2611340 is cancelled."),
        ("declined by the customer; nothing was changed", "I've left order #W2611340 as it is"),
        ("expired before the customer answered; nothing was changed", "expired before"),
    ],
)
def test_the_reply_after_a_card_is_about_the_customer_s_answer(outcome, expected):
    from conversations.tools.actions import OUTCOME_WORDS

    assert outcome in OUTCOME_WORDS.values()
    proposed = {"confirmation_required": True, "details": {"order_number": "#W2611340"}}
    note = (
        "(System, not the customer:) The customer answered the confirm card to cancel order "
        f"#W2611340: {outcome}."
    )
    text, calls = plan_after_rounds(
        ["Cancel #W2611340"],
        [[("cancel_order", "{}", proposed)]],
        then=[
            {"role": "assistant", "content": "I can cancel order #W2611340 for you."},
            {"role": "system", "content": note},
        ],
    )
    assert calls == [] and expected in text
