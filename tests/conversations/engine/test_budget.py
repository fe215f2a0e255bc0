"""Past a bot's daily token budget a person answers instead of the model."""

import pytest
from asgiref.sync import sync_to_async

from conversations.domain.messages import message_append
from conversations.models import ConversationStatus, MessageRole
from tests.conversations.engine.conftest import types
from tests.openai_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_spent_budget_hands_off_without_calling_the_model(
    openai_engine, bot, conversation, say
):
    bot.daily_token_budget = 1000
    await bot.asave(update_fields=["daily_token_budget"])
    await sync_to_async(message_append)(
        conversation_id=conversation.pk,
        role=MessageRole.ASSISTANT,
        text="an earlier answer",
        prompt_tokens=900,
        completion_tokens=100,
    )
    openai_engine.script(Reply(text="This must not be sent."))

    events = await say(conversation, "Where is my parcel?")

    assert types(events) == ["error"]
    assert events[0].code == "budget_exhausted"
    assert openai_engine.requests == []
    await conversation.arefresh_from_db()
    assert conversation.status == ConversationStatus.WAITING


async def test_under_budget_the_model_answers(openai_engine, bot, conversation, say):
    bot.daily_token_budget = 1_000_000
    await bot.asave(update_fields=["daily_token_budget"])
    openai_engine.script(Reply(text="It ships tomorrow."))

    events = await say(conversation, "When does it ship?")

    assert types(events)[-1] == "assistant.done"
    assert len(openai_engine.requests) == 1
