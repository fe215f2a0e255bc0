from decimal import Decimal

from django.core.management import call_command
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from conversations.demo.history import conversations_seed, token_cost
from conversations.demo.loader import demo_store_seed
from conversations.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    MessageRole,
    ToolRun,
)


def test_token_cost_uses_gpt_4o_mini_prices():
    assert token_cost(prompt_tokens=1_000_000, completion_tokens=0) == Decimal("0.15")
    assert token_cost(prompt_tokens=0, completion_tokens=1_000_000) == Decimal("0.60")
    assert token_cost(prompt_tokens=1000, completion_tokens=100) == Decimal("0.00021")


def test_generated_conversations_are_consistent(db, tmp_path):
    bot = demo_store_seed(faq_file=tmp_path / "none.json").bot
    assert conversations_seed(bot=bot, count=300, batch_size=70) == 300
    conversations = Conversation.objects.filter(bot=bot)
    assert conversations.count() == 300
    now = timezone.now()

    per_conversation = conversations.annotate(
        n=Count("messages"),
        top=Max("messages__seq"),
        low=Min("messages__seq"),
        prompt=Sum("messages__prompt_tokens"),
        completion=Sum("messages__completion_tokens"),
        cost=Sum("messages__cost_usd"),
        last=Max("messages__created_at"),
    )
    for c in per_conversation:
        assert c.last_seq == c.n == c.top and c.low == 1
        assert (c.prompt_tokens, c.completion_tokens) == (c.prompt, c.completion)
        assert c.cost_usd == c.cost
        # Each message's cost is rounded to 8 places, so the sum may drift by that much each.
        exact = token_cost(prompt_tokens=c.prompt, completion_tokens=c.completion)
        assert abs(c.cost_usd - exact) <= Decimal("0.00000001") * c.n
        assert c.last_message_at == c.last
        assert now - timezone.timedelta(days=60) <= c.created_at <= c.last <= now
        assert c.title and c.topic and c.sentiment
        if c.status == ConversationStatus.CLOSED:
            assert c.closed_at is not None
        if c.csat_rating is not None:
            assert 1 <= c.csat_rating <= 5 and c.status == ConversationStatus.CLOSED

    assert len(set(conversations.values_list("resume_token_hash", flat=True))) == 300
    statuses = set(conversations.values_list("status", flat=True))
    assert {ConversationStatus.CLOSED, ConversationStatus.BOT} <= statuses
    assert conversations.filter(handoff_requested_at__isnull=False).exists()
    assert conversations.filter(csat_rating__isnull=False).exists()

    messages = Message.objects.filter(conversation__bot=bot)
    roles = set(messages.values_list("role", flat=True))
    assert roles == set(MessageRole.values)
    for message in messages.filter(role=MessageRole.ASSISTANT)[:200]:
        assert message.cost_usd == token_cost(
            prompt_tokens=message.prompt_tokens, completion_tokens=message.completion_tokens
        )
    runs = ToolRun.objects.filter(conversation__bot=bot).select_related("message")
    assert runs.exists()
    for run in runs[:200]:
        assert run.message.conversation_id == run.conversation_id
        assert [call["id"] for call in run.message.tool_calls] == [run.call_id]
        assert messages.filter(
            conversation_id=run.conversation_id, role=MessageRole.TOOL, tool_call_id=run.call_id
        ).exists()
    # The created timestamps are the generated ones, not the time of the insert.
    assert conversations.filter(created_at__lt=now - timezone.timedelta(days=7)).exists()


def test_anonymous_seeded_visitors_are_told_apart_in_the_lists(db, tmp_path, admin_client):
    bot = demo_store_seed(faq_file=tmp_path / "none.json").bot
    conversations_seed(bot=bot, count=40)
    anonymous = Customer.objects.filter(bot=bot, email="", name="")
    labels = {str(customer) for customer in anonymous}
    assert len(anonymous) > 5 and len(labels) == len(anonymous), sorted(labels)
    page = admin_client.get("/admin/conversations/conversation/").content.decode()
    assert len({label for label in labels if f">{label}<" in page}) > 5


def test_seeding_again_tops_up_to_n(db, tmp_path):
    bot = demo_store_seed(faq_file=tmp_path / "none.json").bot
    assert conversations_seed(bot=bot, count=40) == 40
    messages = Message.objects.count()
    assert conversations_seed(bot=bot, count=40) == 0
    assert Message.objects.count() == messages
    assert conversations_seed(bot=bot, count=55) == 15
    assert Conversation.objects.filter(bot=bot).count() == 55


def test_command_generates_conversations(db, capsys):
    call_command("seed_demo", "--conversations", "20")
    assert "conversations: 20 generated" in capsys.readouterr().out
    call_command("seed_demo", "--conversations", "20")
    assert "conversations: 0 generated" in capsys.readouterr().out
    assert Conversation.objects.count() == 20
