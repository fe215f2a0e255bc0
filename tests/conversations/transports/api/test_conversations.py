"""Conversations over the API: start, identities, messages and replies, transcript, status."""

import asyncio
import io

import pytest
from asgiref.sync import ThreadSensitiveContext
from channels.db import database_sync_to_async
from django.test import override_settings
from django.test.client import MULTIPART_CONTENT
from PIL import Image

from conversations import engine
from conversations.domain import intake
from conversations.domain.events import AssistantDelta, AssistantDone, AssistantStarted
from conversations.domain.messages import message_append
from conversations.edge.identity import identity_signature
from conversations.models import (
    Attachment,
    Conversation,
    ConversationStatus,
    Message,
    MessageRole,
    MessageState,
)
from tests.conversations.transports.api.test_streaming import sse_read

BASE = "/api/v1/conversations"


def post(client, path, body, headers):
    return client.post(path, body, content_type="application/json", **headers)


def start(client, headers, body=None) -> dict:
    response = post(client, BASE, body or {}, headers)
    assert response.status_code == 201, response.content
    return response.json()


# Posts the bot answers go through the async client, on the test's event loop as under
# uvicorn: the reply is a task that outlives the request. Each request gets its own
# ThreadSensitiveContext, as Django's ASGIHandler gives it: without one, the request's sync
# middleware would hold the one thread-sensitive thread that the reply's calls need. (The sync
# client cannot serve: it runs each request in async_to_sync, where such a task's calls wait
# on the blocked caller.)


async def apost(async_client, path, body, auth, content_type="application/json"):
    headers = {"Authorization": auth["HTTP_AUTHORIZATION"]}
    async with ThreadSensitiveContext():
        return await async_client.post(path, body, content_type=content_type, headers=headers)


async def aget(async_client, path, params, auth):
    headers = {"Authorization": auth["HTTP_AUTHORIZATION"]}
    async with ThreadSensitiveContext():
        return await async_client.get(path, params, headers=headers)


async def astart(async_client, auth) -> dict:
    response = await apost(async_client, BASE, {}, auth)
    assert response.status_code == 201, response.content
    return response.json()


def png_bytes(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, "PNG")
    return buffer.getvalue()


def test_start_an_anonymous_conversation(client, bot, auth):
    body = start(client, auth)
    assert body["status"] == "bot" and body["owner"] == "bot"
    assert body["customer"]["verified"] is False and body["resume_token"]
    assert Conversation.objects.get(pk=body["id"]).bot == bot


def test_a_signed_identity_is_verified_and_reused(client, bot, auth):
    signature = identity_signature(secret=bot.identity_secret, value="cust-42")
    customer = {"external_id": "cust-42", "email": "ann@example.com", "signature": signature}
    first = start(client, auth, {"customer": customer})
    second = start(client, auth, {"customer": customer})
    assert first["customer"] == {
        "email": "ann@example.com",
        "external_id": "cust-42",
        "name": "",
        "verified": True,
    }
    one = Conversation.objects.get(pk=first["id"])
    two = Conversation.objects.get(pk=second["id"])
    assert one.customer_id == two.customer_id


def test_a_wrong_signature_leaves_the_identity_unverified(client, bot, auth):
    customer = {"email": "ann@example.com", "signature": "0" * 64}
    body = start(client, auth, {"customer": customer})
    assert body["customer"]["verified"] is False
    assert body["customer"]["email"] == "ann@example.com"


async def test_post_a_message_and_get_the_reply_as_json(async_client, bot, auth):
    conversation = await astart(async_client, auth)
    response = await apost(
        async_client, f"{BASE}/{conversation['id']}/messages", {"text": "Where is my order?"}, auth
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"]["role"] == "customer" and body["message"]["text"] == "Where is my order?"
    assert body["duplicate"] is False and body["status"] == "bot"
    assert body["reply"]["role"] == "assistant" and body["reply"]["state"] == "complete"
    assert body["reply"]["text"]
    await intake.replies_wait()


async def test_a_resent_client_id_is_stored_once(async_client, bot, auth):
    conversation = await astart(async_client, auth)
    path = f"{BASE}/{conversation['id']}/messages"
    first = (await apost(async_client, path, {"text": "hello", "client_id": "m-1"}, auth)).json()
    again = (await apost(async_client, path, {"text": "hello", "client_id": "m-1"}, auth)).json()
    assert again["duplicate"] is True and again["message"]["id"] == first["message"]["id"]
    assert again["reply"]["id"] == first["reply"]["id"]
    await intake.replies_wait()
    stored = Message.objects.filter(conversation_id=conversation["id"])
    assert await stored.filter(role=MessageRole.CUSTOMER).acount() == 1
    assert await stored.filter(role=MessageRole.ASSISTANT).acount() == 1


def answering_engine(gate: asyncio.Event):
    """Answers "re: <the newest customer message>", read as it starts; first waits for `gate`."""

    async def reply_stream(*, conversation_id, cancel=None):
        last = (
            await Message.objects.filter(conversation_id=conversation_id, role=MessageRole.CUSTOMER)
            .order_by("-seq")
            .afirst()
        )
        message, _ = await database_sync_to_async(message_append)(
            conversation_id=conversation_id, role=MessageRole.ASSISTANT, state="streaming"
        )
        yield AssistantStarted(seq=message.seq, message_id=message.pk, engine="t", model="t")
        yield AssistantDelta(seq=message.seq, text="re: ")
        await gate.wait()
        yield AssistantDelta(seq=message.seq, text=last.text)
        text = f"re: {last.text}"
        await Message.objects.filter(pk=message.pk).aupdate(text=text, state="complete")
        yield AssistantDone(
            seq=message.seq,
            message_id=message.pk,
            text=text,
            state=MessageState.COMPLETE,
            finish_reason="stop",
        )

    return reply_stream


async def test_a_message_sent_while_the_bot_answers_gets_its_own_reply(
    async_client, bot, auth, monkeypatch
):
    gate = asyncio.Event()
    monkeypatch.setattr(engine, "reply_stream", answering_engine(gate))
    conversation = await astart(async_client, auth)
    path = f"{BASE}/{conversation['id']}/messages"
    first = asyncio.create_task(apost(async_client, path, {"text": "first"}, auth))
    while (running := intake.reply_running(conversation_id=conversation["id"])) is None or (
        running.seq is None
    ):
        await asyncio.sleep(0.01)

    # Asked while "first" is being answered: JSON and SSE callers both get the next reply.
    second = asyncio.create_task(apost(async_client, path, {"text": "second"}, auth))
    streamed = await apost(async_client, path, {"text": "second", "stream": True}, auth)
    chunks = streamed.streaming_content.__aiter__()
    head = (await anext(chunks)) + (await anext(chunks))  # the comment, message.accepted
    # Both "second"s are stored before "first" ends: one more turn answers them both.
    customer = Message.objects.filter(conversation_id=conversation["id"], role="customer")
    while await customer.acount() < 3:
        await asyncio.sleep(0.01)
    gate.set()
    text = (head + b"".join([c async for c in chunks])).decode()
    events = sse_read(text.split("\n"))
    assert [name for name, _ in events] == [
        "message.accepted",
        "assistant.started",
        "assistant.delta",
        "assistant.delta",
        "assistant.done",
    ]
    accepted, started, done = events[0][1], events[1][1], events[-1][1]
    assert started["seq"] > accepted["seq"] and done["text"] == "re: second"

    assert (await first).json()["reply"]["text"] == "re: first"
    assert (await second).json()["reply"]["text"] == "re: second"
    await intake.replies_wait()
    transcript = [
        (m.role, m.text)
        async for m in Message.objects.filter(conversation_id=conversation["id"]).order_by("seq")
    ]
    assert transcript == [
        ("customer", "first"),
        ("assistant", "re: first"),
        ("customer", "second"),
        ("customer", "second"),
        ("assistant", "re: second"),
    ]


def test_no_reply_while_waiting_for_a_human(client, bot, auth):
    conversation = start(client, auth)
    handoff = post(client, f"{BASE}/{conversation['id']}/handoff", {"summary": "refund"}, auth)
    assert handoff.status_code == 200 and handoff.json()["status"] == "waiting"
    body = post(client, f"{BASE}/{conversation['id']}/messages", {"text": "hello?"}, auth).json()
    assert body["reply"] is None and body["status"] == "waiting"


def test_close_then_rate_then_posting_is_refused(client, bot, auth):
    conversation = start(client, auth)
    closed = post(client, f"{BASE}/{conversation['id']}/close", {}, auth)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    rating = {"rating": 5, "comment": "ok"}
    rated = post(client, f"{BASE}/{conversation['id']}/rating", rating, auth)
    assert rated.status_code == 200 and rated.json()["csat_rating"] == 5
    refused = post(client, f"{BASE}/{conversation['id']}/messages", {"text": "hi"}, auth)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conversation_closed"
    handoff = post(client, f"{BASE}/{conversation['id']}/handoff", {}, auth)
    assert handoff.status_code == 409 and handoff.json()["error"]["code"] == "closed"


@pytest.mark.parametrize(
    "body, where",
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": "five"}, "rating"),
        ({}, "rating"),
    ],
)
def test_validation_errors_are_json_with_a_code(client, bot, auth, body, where):
    conversation = start(client, auth)
    response = post(client, f"{BASE}/{conversation['id']}/rating", body, auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and where in error["message"]
    assert error["details"]


def test_an_empty_message_is_refused(client, bot, auth):
    conversation = start(client, auth)
    response = post(client, f"{BASE}/{conversation['id']}/messages", {"text": "  "}, auth)
    assert response.status_code == 422 and response.json()["error"]["code"] == "empty_message"


def test_request_bodies_are_capped(client, bot, auth):
    conversation = start(client, auth)
    with override_settings(SUPPORTBOT_API_MAX_BODY_BYTES=2048):
        response = post(client, f"{BASE}/{conversation['id']}/messages", {"text": "x" * 3000}, auth)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def test_malformed_json_is_a_400_or_422_with_a_code(client, bot, auth):
    response = client.post(BASE, "{not json", content_type="application/json", **auth)
    assert response.status_code in (400, 422)
    assert response.json()["error"]["code"]


async def test_transcript_is_paginated_by_seq(async_client, bot, auth):
    conversation = await astart(async_client, auth)
    path = f"{BASE}/{conversation['id']}/messages"
    for n in range(3):
        await apost(async_client, path, {"text": f"question {n}"}, auth)
    await intake.replies_wait()
    first = (await aget(async_client, path, {"limit": 4}, auth)).json()
    assert len(first["items"]) == 4 and first["next_after_seq"] == first["items"][-1]["seq"]
    rest = (
        await aget(async_client, path, {"after_seq": first["next_after_seq"], "limit": 4}, auth)
    ).json()
    assert len(rest["items"]) == 2 and rest["next_after_seq"] is None
    items = first["items"] + rest["items"]
    seqs = [m["seq"] for m in items]
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    assert [m["role"] for m in items] == ["customer", "assistant"] * 3
    assert all(m["text"] for m in items)  # tool-call turns are not part of the transcript


def test_list_conversations_with_filters_and_pages(
    client, bot, auth, django_assert_max_num_queries
):
    signature = identity_signature(secret=bot.identity_secret, value="vip")
    vip = start(client, auth, {"customer": {"external_id": "vip", "signature": signature}})
    others = [start(client, auth) for _ in range(3)]
    post(client, f"{BASE}/{others[0]['id']}/close", {}, auth)
    with django_assert_max_num_queries(8):
        page = client.get(BASE, {"limit": 2}, **auth).json()
    assert page["total"] == 4 and len(page["items"]) == 2 and page["next_offset"] == 2
    page2 = client.get(BASE, {"limit": 2, "offset": 2}, **auth).json()
    ids = {c["id"] for c in page["items"] + page2["items"]}
    assert ids == {vip["id"], *(o["id"] for o in others)} and page2["next_offset"] is None
    closed = client.get(BASE, {"status": "closed"}, **auth).json()
    assert [c["id"] for c in closed["items"]] == [others[0]["id"]]
    by_customer = client.get(BASE, {"external_id": "vip"}, **auth).json()
    assert [c["id"] for c in by_customer["items"]] == [vip["id"]]
    bad = client.get(BASE, {"status": "nonsense"}, **auth)
    assert bad.status_code == 422


async def test_attach_an_image_to_a_message(async_client, bot, auth):
    conversation = await astart(async_client, auth)
    upload = await apost(
        async_client,
        f"{BASE}/{conversation['id']}/attachments",
        {"file": io.BytesIO(png_bytes((12, 7)))},
        auth,
        content_type=MULTIPART_CONTENT,
    )
    assert upload.status_code == 201, upload.content
    attachment = upload.json()
    assert (attachment["content_type"], attachment["width"], attachment["height"]) == (
        "image/png",
        12,
        7,
    )
    path = f"{BASE}/{conversation['id']}/messages"
    body = (
        await apost(async_client, path, {"text": "", "attachment_ids": [attachment["id"]]}, auth)
    ).json()
    assert [a["id"] for a in body["message"]["attachments"]] == [attachment["id"]]
    again = await apost(
        async_client, path, {"text": "x", "attachment_ids": [attachment["id"]]}, auth
    )
    assert again.status_code == 422 and again.json()["error"]["code"] == "unknown_attachment"
    await intake.replies_wait()


def test_a_non_image_upload_is_refused(client, bot, auth, tmp_path):
    conversation = start(client, auth)
    fake = io.BytesIO(b"GIF89a this is not really a gif")
    response = client.post(f"{BASE}/{conversation['id']}/attachments", {"file": fake}, **auth)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_image"
    script = io.BytesIO(b"<script>alert(1)</script>")
    response = client.post(f"{BASE}/{conversation['id']}/attachments", {"file": script}, **auth)
    assert response.json()["error"]["code"] == "unsupported_type"
    assert not Attachment.objects.exists()


def test_cors_only_for_the_bots_allowed_origins(client, bot, auth):
    bot.allowed_origins = ["https://shop.example.com"]
    bot.save()
    allowed = client.get(BASE, HTTP_ORIGIN="https://shop.example.com", **auth)
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "Origin" in allowed["Vary"]
    other = client.get(BASE, HTTP_ORIGIN="https://evil.example.net", **auth)
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other
    preflight = client.options(
        BASE,
        HTTP_ORIGIN="https://shop.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert preflight.status_code == 204
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    evil = client.options(
        BASE,
        HTTP_ORIGIN="https://evil.example.net",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in evil


def test_status_changes_show_in_the_conversation(client, bot, auth):
    conversation = start(client, auth)
    post(client, f"{BASE}/{conversation['id']}/handoff", {}, auth)
    body = client.get(f"{BASE}/{conversation['id']}", **auth).json()
    assert body["status"] == ConversationStatus.WAITING and body["handoff_requested_at"]


def test_a_too_long_message_is_refused_by_the_one_intake_rule(client, bot, auth, settings):
    settings.SUPPORTBOT_MAX_MESSAGE_CHARS = 10
    conversation = start(client, auth)
    response = post(client, f"{BASE}/{conversation['id']}/messages", {"text": "x" * 11}, auth)
    assert response.status_code == 422 and response.json()["error"]["code"] == "too_long"
    assert not Message.objects.filter(conversation_id=conversation["id"]).exists()
