"""Characters PostgreSQL cannot store, from a hostile model: NUL and lone surrogates.

JSON may carry "\\u0000" and "\\ud800"; the SDK hands them over as they came. A reply or a
tool call holding them must still end in a stored, final state (not a failed write mid-reply).
"""

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from conversations.domain.messages import message_append
from conversations.domain.text import text_problem
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


async def test_nul_and_lone_surrogates_in_text_and_calls_are_stored_cleanly(model, bot):
    model.script(
        Reply(
            tool_calls=[
                ToolCallSpec("get_order", '{"order_number": "#W1\\u0000"}'),
                ToolCallSpec("search_faq", '{"question": "ship\\ud800ping", "x\\u0000": 1}'),
                ToolCallSpec("get_order\u0000", {"order_number": "#W1"}, id="call\u0000\ud800"),
            ]
        ),
        Reply(text="Your order\u0000 is on its way \ud800 soon."),
    )
    conversation, events = await turn(bot)
    assert not [e for e in events if e.type == "error"]
    done = [e for e in events if e.type == "assistant.done"]
    assert [e.state for e in done] == ["complete"]
    assert done[0].text == "Your order is on its way \ufffd soon."
    runs = [r async for r in ToolRun.objects.filter(conversation=conversation)]
    assert len(runs) == 3 and all(r.status != "queued" for r in runs)
    stored = [m async for m in Message.objects.filter(conversation=conversation)]
    assert stored[-1].text == done[0].text
    # What SQLite would have kept is what PostgreSQL refuses: the same rows on both.
    assert text_problem([(m.text, m.data, m.tool_calls) for m in stored]) is None
    assert text_problem([(r.arguments, r.error, r.call_id, r.tool) for r in runs]) is None
    assert {r.call_id for r in runs} >= {"call\ufffd"}


async def test_a_nul_in_the_text_alone_does_not_fail_the_reply(model, bot):
    model.script(Reply(text="Hello\u0000 there, \ud83d how can I help?"))
    conversation, events = await turn(bot)
    done = [e for e in events if e.type == "assistant.done"]
    expected = "Hello there, \ufffd how can I help?"
    assert [(e.state, e.text) for e in done] == [("complete", expected)]
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert (reply.state, reply.text) == ("complete", done[0].text)
