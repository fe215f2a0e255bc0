"""Each bot's daily token budget: past it, the bot hands off instead of calling the model."""

import datetime
from decimal import Decimal
from typing import Any

from django.db.models import F, Sum
from django.utils import timezone

from conversations.models import Bot, Conversation, Message, MessageRole


def _start_of_day() -> datetime.datetime:
    now = timezone.now()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def bot_tokens_used_today(*, bot: Bot) -> int:
    """Prompt plus completion tokens of the bot's assistant messages since midnight UTC."""
    total = Message.objects.filter(
        conversation__bot=bot, role=MessageRole.ASSISTANT, created_at__gte=_start_of_day()
    ).aggregate(total=Sum(F("prompt_tokens") + F("completion_tokens")))["total"]
    return int(total or 0)


def bot_budget_exceeded(*, bot: Bot) -> bool:
    """True when the bot has a daily budget and today's usage has reached it."""
    if bot.daily_token_budget is None:
        return False
    return bot_tokens_used_today(bot=bot) >= bot.daily_token_budget


def conversation_usage_add(
    *, conversation_id: Any, prompt_tokens: int, completion_tokens: int, cost: Decimal
) -> None:
    """Add a model call's tokens and cost to the conversation's running totals."""
    Conversation.objects.filter(pk=conversation_id).update(
        prompt_tokens=F("prompt_tokens") + prompt_tokens,
        completion_tokens=F("completion_tokens") + completion_tokens,
        cost_usd=F("cost_usd") + cost,
    )
