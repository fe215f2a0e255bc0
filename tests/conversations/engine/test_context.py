"""The model's view: system prompt first, turns trimmed whole, a running summary."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.engine.context import history_load, system_prompt_compose
from conversations.models import ContextSummary, Message, MessageRole
from tests.openai_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)


def add_turn(conversation, n, *, with_tool=False, words=150):
    cid = conversation.pk
    message_append(
        conversation_id=cid, role=MessageRole.CUSTOMER, text=f"question {n} " + "q " * words
    )
    if with_tool:
        message_append(
            conversation_id=cid,
            role=MessageRole.ASSISTANT,
            tool_calls=[{"id": f"call_{n}", "name": "search_faq", "arguments": '{"question":"x"}'}],
        )
        message_append(
            conversation_id=cid, role=MessageRole.TOOL, tool_call_id=f"call_{n}", text='{"ok":1}'
        )
    message_append(
        conversation_id=cid, role=MessageRole.ASSISTANT, text=f"answer {n} " + "a " * words
    )


def check_wire(messages):
    """Every tool message follows the call it answers; the system prompt comes first."""
    assert messages[0]["role"] == "system"
    open_calls = set()
    for message in messages:
        if message.get("tool_calls"):
            open_calls |= {c["id"] for c in message["tool_calls"]}
        if message["role"] == "tool":
            assert message["tool_call_id"] in open_calls
            open_calls.discard(message["tool_call_id"])
    assert not open_calls


def test_history_keeps_each_tool_call_with_its_result(conversation):
    add_turn(conversation, 1, with_tool=True)
    # A call whose result never got stored, and a result whose call is gone.
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="next")
    message_append(
        conversation_id=conversation.pk,
        role=MessageRole.ASSISTANT,
        tool_calls=[{"id": "call_lost", "name": "get_order", "arguments": "{}"}],
    )
    message_append(
        conversation_id=conversation.pk, role=MessageRole.TOOL, tool_call_id="nobody", text="{}"
    )
    history = history_load(conversation_id=conversation.pk)
    wire = [m for turn in history.turns for m in turn.messages]
    check_wire([{"role": "system"}, *wire])
    assert [t.first_seq for t in history.turns] == [1, 5]
    placeholder = wire[-1]
    assert placeholder["tool_call_id"] == "call_lost" and "no result" in placeholder["content"]


def test_the_system_prompt_says_who_the_customer_is(bot, customer):
    assert "not verified" in system_prompt_compose(bot=bot, customer=customer)
    customer.email, customer.verified_at = "ann@example.com", timezone.now()
    customer.verified_by = "email"
    assert "not verified" in system_prompt_compose(bot=bot, customer=customer)
    prompt = system_prompt_compose(bot=bot, customer=customer, verified=True)
    assert prompt.startswith(f"You are the customer-support assistant of {bot.name}.")
    assert "verified by" in prompt and "ann@example.com" in prompt
    customer.external_id, customer.verified_by = "cust-1", "external_id"
    prompt = system_prompt_compose(bot=bot, customer=customer, verified=True)
    assert "verified by" in prompt and "cust-1" in prompt and "ann@example.com" not in prompt


def test_the_model_is_told_to_reply_in_the_customers_language(bot, customer):
    prompt = system_prompt_compose(bot=bot, customer=customer)
    assert "Reply in the language of the customer's latest message" in prompt
    assert "FAQ" in prompt.split("Reply in the language")[1].split("\n")[0]


async def test_old_turns_are_trimmed_whole_and_summarised(
    openai_engine, settings, conversation, say
):
    settings.SUPPORTBOT_CONTEXT_WINDOW = 4000
    for n in range(12):
        await sync_to_async(add_turn)(conversation, n, with_tool=n % 2 == 0)
    openai_engine.rule = lambda request: Reply(
        text="Summary: twelve questions." if not request.body.get("stream") else "Fine."
    )
    events = await say(conversation, "latest question")
    assert events[-1].text == "Fine."
    summarize, chat = openai_engine.chat_requests()
    assert "question 0" in summarize.body["messages"][1]["content"]
    messages = chat.body["messages"]
    check_wire(messages)
    assert (
        messages[1]["role"] == "system" and "Summary: twelve questions." in messages[1]["content"]
    )
    assert messages[2]["role"] == "user"  # a turn starts with the customer's message
    assert messages[-1] == {"role": "user", "content": "latest question"}
    assert "question 0 " not in json.dumps(messages[2:])
    summary = await ContextSummary.objects.aget(conversation_id=conversation.pk)

    # The next reply starts from the stored summary: no new summarising needed yet.
    openai_engine.reset()
    openai_engine.rule = lambda request: Reply(text="Again.")
    await say(conversation, "one more")
    assert len(openai_engine.chat_requests()) == 1
    assert (await ContextSummary.objects.aget(conversation_id=conversation.pk)).through_seq == (
        summary.through_seq
    )


async def test_offline_engine_summarises_without_a_model(
    offline_engine, settings, conversation, say
):
    settings.SUPPORTBOT_CONTEXT_WINDOW = 3000
    for n in range(10):
        await sync_to_async(add_turn)(conversation, n)
    await say(conversation, "hello")
    summary = await ContextSummary.objects.aget(conversation_id=conversation.pk)
    assert "Customer: question" in summary.text and "Assistant: answer" in summary.text
    assert len(summary.text) <= 1500


def test_stored_token_counts_are_what_counting_the_prompt_gives(conversation):
    add_turn(conversation, 1, with_tool=True, words=20)
    message_append(
        conversation_id=conversation.pk,
        role=MessageRole.ASSISTANT,
        text="Your parcel left the warehouse yesterday.",
    )
    message_append(
        conversation_id=conversation.pk,
        role=MessageRole.EVENT,
        event="order_action",
        text="The customer confirmed the cancellation of order #1001.",
    )
    add_turn(conversation, 2, words=5)
    stored = history_load(conversation_id=conversation.pk)
    assert Message.objects.filter(conversation=conversation, tokens__isnull=True).count() == 0
    Message.objects.filter(conversation=conversation).update(tokens=None)
    counted = history_load(conversation_id=conversation.pk)
    assert [t.tokens for t in stored.turns] == [t.tokens for t in counted.turns]
    assert all(t.tokens > 0 for t in counted.turns)
