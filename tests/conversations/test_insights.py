import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from conversations.agents.tasks import insights_sweep
from conversations.insights import insights_due, insights_write
from conversations.messages import message_append
from conversations.models import Conversation, MessageRole
from conversations.status import conversation_close, handoff_request
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


def test_sweep_picks_closed_and_idle_conversations_only(bot, settings):
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


class _Model(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Model.requests.append(body)
        sent = json.loads(body["messages"][1]["content"])["conversations"]
        labels = [
            {
                "id": item["id"],
                "title": f"Title {item['id']}",
                "summary": "The customer asked where the parcel is.",
                "topic": "shipping",
                "sentiment": "positive",
                "resolved": True,
            }
            for item in sent[:-1]  # the last one is left out: it falls back to heuristics
        ]
        payload = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": json.dumps({"conversations": labels}),
                    },
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def model_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Model)
    _Model.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_cheap_model_labels_a_batch_in_one_request(bot, settings, model_server):
    settings.SUPPORTBOT_ENGINE = "openai"
    settings.OPENAI_BASE_URL = model_server
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_MAX_RETRIES = 0
    first = chat_create(bot=bot, texts=["Where is my parcel?"])
    human = chat_create(bot=bot, texts=["Where is my parcel?"])
    message_append(conversation_id=human.pk, role=MessageRole.AGENT, text="Alice here")
    last = chat_create(bot=bot, texts=["Do you sell socks?"])
    assert insights_write(conversation_ids=[first.pk, human.pk, last.pk]) == 3
    [request] = _Model.requests
    assert request["model"] == "gpt-4.1-nano"
    assert request["response_format"] == {"type": "json_object"}
    for conversation in (first, human, last):
        conversation.refresh_from_db()
    assert (first.topic, first.sentiment, first.resolved_by_bot) == ("shipping", "positive", True)
    assert first.title.startswith("Title c")
    # The model said "resolved", but a human answered: not the bot's resolution.
    assert human.resolved_by_bot is False
    assert (last.topic, last.title) == ("product question", "Do you sell socks?")
