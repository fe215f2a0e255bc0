"""A conversation driven through the API produces signed webhooks, the bot's reply included."""

import pytest

from conversations.models import WebhookEndpoint
from conversations.webhooks import SIGNATURE_HEADER, webhook_signature_verify
from tests.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def eager_tasks():
    from supportbot.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_api_conversation_sends_signed_webhooks(client, bot, auth, receiver, eager_tasks):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url)
    conversation = client.post(
        "/api/v1/conversations", {}, content_type="application/json", **auth
    ).json()
    path = f"/api/v1/conversations/{conversation['id']}"
    client.post(f"{path}/messages", {"text": "hi"}, content_type="application/json", **auth)
    client.post(f"{path}/close", {}, content_type="application/json", **auth)
    client.post(f"{path}/rating", {"rating": 5}, content_type="application/json", **auth)
    received = receiver.wait_for(5)
    summary = [
        (r.payload["event"], r.payload["data"].get("message", {}).get("role")) for r in received
    ]
    assert summary == [
        ("conversation.created", None),
        ("message.created", "customer"),
        ("message.created", "assistant"),
        ("conversation.closed", None),
        ("rating.received", None),
    ]
    assert all(
        webhook_signature_verify(
            secret=endpoint.secret, header=r.headers[SIGNATURE_HEADER], body=r.body
        )
        for r in received
    )
    assert received[2].payload["data"]["message"]["text"]
