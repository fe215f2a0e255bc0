"""A hostile model that floods: megabytes of text, thousands of calls, huge or deep arguments.

Whatever the model streams, what the product stores and sends is bounded, and every row it
writes is whole (JSON that loads, a reply that ends in a final state).
"""

import json

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from conversations.domain.messages import message_append
from conversations.engine import reply_stream
from conversations.models import Message, MessageRole, ToolRun
from tests import factories
from tests.openai_server import Reply, ToolCallSpec

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]


@pytest.fixture
def model(settings, openai_server):
    settings.SUPPORTBOT_ENGINE = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_TIMEOUT = 30.0
    settings.OPENAI_MAX_RETRIES = 0
    settings.SUPPORTBOT_MODERATION = False
    settings.SUPPORTBOT_MAX_TOOL_ROUNDS = 2
    cache.clear()
    yield openai_server
    cache.clear()


async def turn(bot, text="hello"):
    conversation = await sync_to_async(factories.conversation_create)(bot=bot)
    await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text
    )
    events = [e async for e in reply_stream(conversation_id=conversation.pk)]
    return conversation, events


def frames_bytes(events) -> int:
    return sum(len(json.dumps(e.to_dict())) for e in events)


def stored(rows) -> int:
    return max((len(json.dumps(r, ensure_ascii=False, default=str)) for r in rows), default=0)


async def test_megabytes_of_text_are_cut_at_the_bots_output_limit(model, bot):
    model.script(Reply(text="word " * 400_000))  # 2 MB, whatever max_tokens said
    conversation, events = await turn(bot)
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    limit = bot.max_output_tokens * 16
    assert 0 < len(reply.text) <= limit
    assert reply.state == "interrupted"
    sent = "".join(e.text for e in events if e.type == "assistant.delta")
    assert sent == reply.text
    assert [e.code for e in events if e.type == "error"] == ["interrupted"]
    assert frames_bytes(events) < 4 * limit


async def test_thousands_of_calls_in_a_round_run_only_the_first_few(model, bot, settings):
    calls = [ToolCallSpec("get_order", {"order_number": f"#W{n}"}) for n in range(2000)]
    model.script(Reply(tool_calls=calls, argument_piece=10_000), Reply(text="Nothing found."))
    conversation, events = await turn(bot)
    kept = settings.SUPPORTBOT_MAX_TOOL_CALLS_PER_ROUND
    assert await ToolRun.objects.filter(conversation=conversation).acount() == kept
    assert len([e for e in events if e.type == "tool.started"]) == kept
    calls_row = await Message.objects.aget(conversation=conversation, seq=2)
    assert len(calls_row.tool_calls) == kept
    # The next round's request pairs every kept call with its result, and only those.
    followup = model.chat_requests()[1].body["messages"]
    assert len(followup[-kept - 1]["tool_calls"]) == kept
    assert [e.state for e in events if e.type == "assistant.done"][-1] == "complete"


async def test_huge_deep_and_misnamed_calls_are_refused_and_stored_small(model, bot):
    deep = "[" * 50_000 + "]" * 50_000
    calls = [
        ToolCallSpec("get_order", {"order_number": "#W1", "pad": "x" * 1_000_000}),
        ToolCallSpec("get_order", '{"order_number": ' + deep + "}"),
        ToolCallSpec("get_order", '{"order_number": ' + "[" * 3000 + "]" * 3000 + "}"),
        ToolCallSpec("search_faq", {"question": "q" * 500_000}),
        ToolCallSpec("get_order", {"order_number": "#W1"}, id="c" * 5000),
        ToolCallSpec("get_order" * 1000, {"order_number": "#W1"}),
    ]
    model.script(Reply(tool_calls=calls, argument_piece=100_000), Reply(text="Nothing found."))
    conversation, events = await turn(bot)
    assert not [e for e in events if e.type == "error"]
    assert [e.state for e in events if e.type == "assistant.done"] == ["complete"]
    runs = [r async for r in ToolRun.objects.filter(conversation=conversation)]
    assert len(runs) == len(calls)
    statuses = sorted(r.status for r in runs)
    # The long id's call is a fine lookup (of an order nobody proved); the rest are refused.
    assert statuses == ["invalid"] * 5 + ["succeeded"]
    assert stored([r.arguments for r in runs] + [r.error for r in runs]) < 20_000
    messages = [m async for m in Message.objects.filter(conversation=conversation)]
    assert all(len(m.tool_call_id) <= 64 for m in messages)
    assert stored([m.tool_calls for m in messages] + [m.data for m in messages]) < 20_000
    assert frames_bytes(events) < 40_000
