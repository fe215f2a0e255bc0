from datetime import timedelta

from django.utils import timezone

from conversations.domain.budget import bot_budget_exceeded, bot_tokens_used_today
from conversations.domain.messages import message_append
from conversations.models import Message, MessageRole
from tests import factories


def _reply(conversation, prompt, completion, *, days_ago=0):
    message, _ = message_append(
        conversation_id=conversation.pk,
        role=MessageRole.ASSISTANT,
        text="ok",
        prompt_tokens=prompt,
        completion_tokens=completion,
    )
    if days_ago:
        Message.objects.filter(pk=message.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )


def test_no_budget_means_no_limit(bot, conversation):
    _reply(conversation, 10_000, 10_000)
    assert bot_budget_exceeded(bot=bot) is False


def test_todays_tokens_count_against_the_budget(bot, conversation):
    bot.daily_token_budget = 1000
    bot.save()
    _reply(conversation, 5_000, 5_000, days_ago=2)  # yesterday's usage does not count
    _reply(conversation, 400, 100)
    assert bot_tokens_used_today(bot=bot) == 500
    assert bot_budget_exceeded(bot=bot) is False
    other = factories.conversation_create(bot=bot)
    _reply(other, 450, 50)
    assert bot_budget_exceeded(bot=bot) is True
    # Another bot's usage is its own.
    assert bot_budget_exceeded(bot=factories.bot_create(daily_token_budget=1000)) is False


def test_a_zero_budget_allows_nothing(bot):
    bot.daily_token_budget = 0
    bot.save()
    assert bot_budget_exceeded(bot=bot) is True
