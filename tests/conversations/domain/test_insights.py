import json
from datetime import timedelta

from django.utils import timezone

from conversations.agents.tasks import insights_sweep
from conversations.domain.insights import insights_due, insights_write
from conversations.domain.messages import message_append
from conversations.domain.status import conversation_close, handoff_request
from conversations.models import Conversation, MessageRole
from tests.agents_fixtures import chat_create


def test_offline_heuristics_title_topic_sentiment_and_resolution(bot, settings):
    settings.SUPPORTBOT_ENGINE = "offline"
    happy = chat_create(bot=bot, texts=["Where is my order #W1? I want to track it", "Thanks!"])
    angry = chat_create(bot=bot, texts=["I want a refund, this is unacceptable", "Useless bot"])
    handoff_request(conversation_id=angry.pk)
    assert insights_write(conversation_ids=[happy.pk, angry.pk]) == 2
    happy.refresh_from_db()
    angry.refresh_from_db()
    assert happy.title == "Where is my order #W1? I want to track it"
    assert (happy.topic, happy.sentiment, happy.resolved_by_bot) == (
        "order status",
        "positive",
        True,
    )
    assert (angry.topic, angry.sentiment, angry.resolved_by_bot) == (
        "returns and refunds",
        "negative",
        False,
    )
    assert "handed to a human agent" in angry.summary
    assert happy.summary == (
        "The customer asked about order status: Where is my order #W1? I want to track it. "
        "2 customer messages; answered by the bot."
    )
    # No topic found: what they wrote, not "asked about other".
    hello = chat_create(bot=bot, texts=["hello"])
    insights_write(conversation_ids=[hello.pk])
    hello.refresh_from_db()
    assert hello.summary.startswith("The customer wrote: hello. 1 customer message;")


def test_sweep_picks_closed_and_idle_conversations_only(bot, settings, monkeypatch):
    from supportbot.celery import app

    # The sweep queues one task per batch; run them in-process here (no worker in this test).
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_INSIGHTS_IDLE_MINUTES = 30
    closed = chat_create(bot=bot)
    conversation_close(conversation_id=closed.pk, closed_by="customer")
    idle = chat_create(bot=bot)
    Conversation.objects.filter(pk=idle.pk).update(
        last_message_at=timezone.now() - timedelta(minutes=45)
    )
    active = chat_create(bot=bot)
    assert set(insights_due()) == {closed.pk, idle.pk}
    assert insights_sweep.apply().get() == 2
    assert insights_due() == []
    active.refresh_from_db()
    assert active.topic == ""


def _labels(request):
    """The scripted cheap model: labels all but the last conversation (which falls back)."""
    from tests.openai_server import Reply

    sent = json.loads(request.messages[1]["content"])["conversations"]
    labels = [
        {
            "id": item["id"],
            "title": f"Title {item['id']}",
            "summary": "The customer asked where the parcel is.",
            "topic": "shipping",
            "sentiment": "positive",
            "resolved": True,
        }
        for item in sent[:-1]
    ]
    return Reply(text=json.dumps({"conversations": labels}))


def test_cheap_model_labels_a_batch_in_one_request(bot, settings, openai_server):
    openai_server.rule = _labels
    settings.SUPPORTBOT_ENGINE = "openai"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_MAX_RETRIES = 0
    first = chat_create(bot=bot, texts=["Where is my parcel?"])
    human = chat_create(bot=bot, texts=["Where is my parcel?"])
    message_append(conversation_id=human.pk, role=MessageRole.AGENT, text="Alice here")
    last = chat_create(bot=bot, texts=["Do you sell socks?"])
    assert insights_write(conversation_ids=[first.pk, human.pk, last.pk]) == 3
    [request] = openai_server.chat_requests()
    assert request.body["model"] == "gpt-4.1-nano"
    assert request.body["response_format"] == {"type": "json_object"}
    for conversation in (first, human, last):
        conversation.refresh_from_db()
    assert (first.topic, first.sentiment, first.resolved_by_bot) == ("shipping", "positive", True)
    assert first.title.startswith("Title c")
    # The model said "resolved", but a human answered: not the bot's resolution.
    assert human.resolved_by_bot is False
    assert (last.topic, last.title) == ("product question", "Do you sell socks?")
