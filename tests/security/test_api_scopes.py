"""Hostile API clients: a `chat` key reaches only the conversations it started (issue 11, hole
9); reading the bot's other conversations needs `read`, and nobody writes into another's."""

import json
import uuid

import pytest

from conversations.domain.messages import message_append
from conversations.edge.apikeys import api_key_create
from conversations.models import Conversation, MessageRole

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1/conversations"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    from django.core.cache import cache

    cache.clear()


def headers_for(bot, scopes: str) -> dict[str, str]:
    _, secret = api_key_create(bot=bot, name=scopes, scopes=scopes)
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def start(client, headers) -> str:
    response = client.post(API, {}, content_type="application/json", **headers)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def widget_conversation(client, bot) -> str:
    response = client.post(
        f"/widget/{bot.public_key}/session",
        data=json.dumps({"visitor_id": "browser_0123456789abcdef"}),
        content_type="text/plain",
        HTTP_ORIGIN="http://testserver",
    )
    conversation_id = response.json()["conversation_id"]
    message_append(
        conversation_id=conversation_id, role=MessageRole.CUSTOMER, text="I live at 1 Main St"
    )
    return conversation_id


def reads(client, headers, conversation_id) -> list[int]:
    return [
        client.get(f"{API}/{conversation_id}", **headers).status_code,
        client.get(f"{API}/{conversation_id}/messages", **headers).status_code,
    ]


def writes(client, headers, conversation_id) -> list[int]:
    def post(path, body):
        url = f"{API}/{conversation_id}/{path}"
        return client.post(url, body, content_type="application/json", **headers).status_code

    return [
        post("messages", {"text": "hi", "client_id": "x-1"}),
        post("handoff", {}),
        post("rating", {"rating": 1}),
        post("close", {}),
        # A confirm card's answer: only the client that started the conversation gives it.
        post(f"actions/{uuid.uuid4()}", {"decision": "confirm"}),
    ]


def test_a_chat_key_cannot_read_or_write_another_clients_conversation(client, bot):
    mine, theirs = headers_for(bot, "chat"), headers_for(bot, "chat")
    own = start(client, mine)
    other = start(client, theirs)
    customers = widget_conversation(client, bot)

    assert reads(client, mine, own) == [200, 200]
    for conversation_id in (other, customers):
        assert reads(client, mine, conversation_id) == [404, 404]
        assert writes(client, mine, conversation_id) == [404] * 5
    # Nothing was written into them.
    assert Conversation.objects.get(pk=customers).status == "bot"
    assert not Conversation.objects.get(pk=other).messages.filter(role=MessageRole.CUSTOMER)


def test_the_read_scope_reads_every_conversation_but_writes_none(client, bot):
    customers = widget_conversation(client, bot)
    reader = headers_for(bot, "chat,read")

    assert reads(client, reader, customers) == [200, 200]
    listed = client.get(API, **reader).json()["items"]
    assert customers in [c["id"] for c in listed]
    assert writes(client, reader, customers) == [403] * 5
    response = client.post(
        f"{API}/{customers}/close", {}, content_type="application/json", **reader
    )
    assert response.json()["error"]["code"] == "not_this_keys_conversation"
    assert Conversation.objects.get(pk=customers).status == "bot"
