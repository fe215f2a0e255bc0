"""A dependency away is a JSON 503 with Retry-After, in the envelope of the endpoint."""

import json

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from conversations.transports import widget
from tests.conversations.edge.test_ratelimit import CacheAway


@pytest.fixture
def redis_away(monkeypatch):
    from conversations.edge import ratelimit

    monkeypatch.setattr(ratelimit, "cache", CacheAway())

    def refuse(**kwargs):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(widget, "conversation_start", refuse)


def test_the_widget_answers_503_with_retry_after_not_500(client, bot, redis_away):
    response = client.post(
        f"/widget/{bot.public_key}/session",
        data=json.dumps({"visitor_id": "visitor_0123456789abcdef"}),
        content_type="text/plain",
        HTTP_ORIGIN="http://testserver",
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response["Retry-After"]) > 0
    assert response["Access-Control-Allow-Origin"] == "http://testserver"


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_503_with_retry_after_not_500(client, bot, monkeypatch):
    from conversations.edge.apikeys import api_key_create
    from conversations.transports.api import conversations as api_conversations

    _, secret = api_key_create(bot=bot, name="t", scopes="chat,read")

    def refuse(*args, **kwargs):
        raise RedisConnectionError("Connection refused.")

    monkeypatch.setattr(api_conversations, "conversation_start", refuse)
    response = client.post(
        "/api/v1/conversations",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response["Retry-After"]) > 0
