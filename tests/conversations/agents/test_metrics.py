from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from conversations.agents.metrics import dashboard_figures
from conversations.domain.status import handoff_request
from conversations.models import Conversation, Message
from tests.agents_fixtures import chat_create


def test_figures_per_day_and_in_total(bot):
    a = chat_create(bot=bot, resolved_by_bot=True, csat_rating=5, topic="shipping")
    b = chat_create(bot=bot, resolved_by_bot=False, csat_rating=2, topic="shipping")
    c = chat_create(bot=bot, topic="payment", cost_usd=Decimal("0.5"), prompt_tokens=1000)
    handoff_request(conversation_id=b.pk)
    yesterday = timezone.now() - timedelta(days=1)
    Conversation.objects.filter(pk=c.pk).update(created_at=yesterday)
    Message.objects.filter(conversation=c).update(created_at=yesterday)
    Message.objects.filter(conversation=a, ttft_ms__isnull=False).update(ttft_ms=100)
    Message.objects.filter(conversation=b, ttft_ms__isnull=False).update(ttft_ms=300)
    Message.objects.filter(conversation=c, ttft_ms__isnull=False).update(ttft_ms=1000)

    figures = dashboard_figures(days=7)
    assert len(figures.days) == 7
    today, before = figures.days[-1], figures.days[-2]
    assert (today.conversations, today.handoffs, today.resolved, today.classified) == (2, 1, 1, 2)
    assert today.resolution_rate == 0.5 and today.handoff_rate == 0.5
    assert today.csat == 3.5 and today.ttft_median_ms == 200
    assert before.conversations == 1 and before.cost == Decimal("0.5") and before.tokens == 1000
    assert before.ttft_median_ms == 1000
    totals = figures.totals
    assert (totals.conversations, totals.rated) == (3, 2)
    assert totals.ttft_median_ms == 300  # the median of 100, 100, 300, 300, 1000, 1000
    assert figures.topics == [("shipping", 2), ("payment", 1)]
    assert figures.cost_per_conversation == Decimal("0.5") / 3


def test_figures_for_one_bot(bot):
    from tests import factories

    chat_create(bot=bot)
    chat_create(bot=factories.bot_create())
    assert dashboard_figures(days=1, bot_id=bot.pk).totals.conversations == 1
