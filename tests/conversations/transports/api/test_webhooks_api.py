"""A conversation driven through the API produces signed webhooks, the bot's reply included."""

import asyncio

from conversations.domain import intake
from conversations.domain.webhooks import SIGNATURE_HEADER, webhook_signature_verify
from conversations.models import WebhookEndpoint
from tests.conversations.transports.api.test_conversations import apost


async def test_api_conversation_sends_signed_webhooks(
    async_client, bot, auth, receiver, eager_tasks
):
    endpoint = await WebhookEndpoint.objects.acreate(bot=bot, url=receiver.url)
    conversation = (await apost(async_client, "/api/v1/conversations", {}, auth)).json()
    path = f"/api/v1/conversations/{conversation['id']}"
    await apost(async_client, f"{path}/messages", {"text": "hi"}, auth)
    await intake.replies_wait()
    await apost(async_client, f"{path}/close", {}, auth)
    await apost(async_client, f"{path}/rating", {"rating": 5}, auth)
    received = await asyncio.to_thread(receiver.wait_for, 5)
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
