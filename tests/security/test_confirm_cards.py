"""Confirm cards: the model proposes, only the customer's click (frame or API call) acts, once."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.domain.status import conversation_close
from conversations.edge.apikeys import api_key_create
from conversations.models import Conversation, Message, MessageRole, Order, OrderAction
from conversations.tools import ToolCall, tool_calls_execute
from conversations.tools.actions import cancel_order
from conversations.tools.orders import identify_customer
from conversations.tools.runs import tool_context_for
from conversations.transports.routing import websocket_urlpatterns
from tests import factories
from tests.conversations.transports.api.test_conversations import apost

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager")]

application = URLRouter(websocket_urlpatterns)


@pytest.fixture(autouse=True)
def offline(settings):
    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_OFFLINE_DELAY = 0
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 0


@sync_to_async
def a_proposal():
    bot = factories.bot_create()
    order = factories.order_create(bot=bot, status="pending")
    conversation = factories.conversation_create(bot=bot)
    context = tool_context_for(conversation_id=conversation.pk)
    identify_customer(context=context, order_number=order.number, email_or_zip=order.customer.email)
    proposal = cancel_order(context=context, order_number=order.number, reason="no longer needed")
    return conversation, order, proposal.data["action_id"]


@sync_to_async
def refunds(order):
    return Order.objects.get(pk=order.pk).payments.filter(transaction_type="refund").count()


async def open_socket(conversation):
    socket = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}/",
        headers=[(b"origin", b"http://testserver"), (b"host", b"supportbot.example")],
    )
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "auth", "token": conversation.resume_token, "last_seq": 0})
    while (await socket.receive_json_from(timeout=5))["type"] != "ready":
        pass
    return socket


async def frames_until(socket, kind, timeout=10.0):
    frames = []
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


async def test_parallel_clicks_on_one_card_cancel_and_refund_once():
    conversation, order, action_id = await a_proposal()
    socket = await open_socket(conversation)
    try:
        for _ in range(4):
            await socket.send_json_to(
                {"type": "action.decide", "action_id": action_id, "decision": "confirm"}
            )
        frames = await frames_until(socket, "action.decided")
        decided = frames[-1]
        assert decided["action_id"] == action_id and decided["status"] == "done"
        assert decided["order"]["status"] == "cancelled"
        # The bot answers the decision; it knows what happened.
        await frames_until(socket, "assistant.done")
    finally:
        await socket.disconnect()
    assert await refunds(order) == 1
    assert await OrderAction.objects.filter(status="done").acount() == 1
    notes = [
        m.text
        async for m in Message.objects.filter(
            conversation_id=conversation.pk, role=MessageRole.EVENT
        )
    ]
    assert len(notes) == 1 and "done" in notes[0]


async def test_another_conversation_cannot_answer_the_card():
    conversation, order, action_id = await a_proposal()
    other = await sync_to_async(factories.conversation_create)(bot=conversation.bot)
    socket = await open_socket(other)
    try:
        await socket.send_json_to(
            {"type": "action.decide", "action_id": action_id, "decision": "confirm"}
        )
        error = (await frames_until(socket, "error"))[-1]
        assert error["code"] == "action_not_found"
    finally:
        await socket.disconnect()
    assert await refunds(order) == 0


async def test_the_api_answers_a_card_once(async_client):
    conversation, order, action_id = await a_proposal()
    key, secret = await sync_to_async(api_key_create)(bot=conversation.bot, name="t", scopes="chat")
    # The key answers for a conversation it started (a chat key reaches only those).
    await Conversation.objects.filter(pk=conversation.pk).aupdate(api_key=key)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    path = f"/api/v1/conversations/{conversation.pk}/actions/{action_id}"
    answers = await asyncio.gather(
        *[apost(async_client, path, {"decision": "confirm"}, auth) for _ in range(4)]
    )
    assert [a.status_code for a in answers] == [200] * 4
    # One answer carried it out; the others saw it running or done.
    assert {a.json()["action"]["status"] for a in answers} <= {"confirmed", "done"}
    assert (await OrderAction.objects.aget(pk=action_id)).status == "done"
    assert await refunds(order) == 1
    missing = await apost(
        async_client,
        f"/api/v1/conversations/{conversation.pk}/actions/{conversation.pk}",
        {"decision": "confirm"},
        auth,
    )
    assert missing.status_code == 404


async def test_another_bots_key_cannot_answer_the_card(async_client):
    conversation, order, action_id = await a_proposal()
    other_bot = await sync_to_async(factories.bot_create)()
    _, secret = await sync_to_async(api_key_create)(bot=other_bot, name="t", scopes="chat,read")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    path = f"/api/v1/conversations/{conversation.pk}/actions/{action_id}"
    answer = await apost(async_client, path, {"decision": "confirm"}, auth)
    assert answer.status_code == 404
    assert await refunds(order) == 0
    assert (await OrderAction.objects.aget(pk=action_id)).status == "proposed"


async def test_a_card_answered_after_the_conversation_closed_does_nothing(async_client):
    """A person closed the conversation (perhaps because of that card): it acts no more."""
    conversation, order, action_id = await a_proposal()
    key, secret = await sync_to_async(api_key_create)(bot=conversation.bot, name="t", scopes="chat")
    await Conversation.objects.filter(pk=conversation.pk).aupdate(api_key=key)
    await sync_to_async(conversation_close)(conversation_id=conversation.pk, closed_by="agent")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    path = f"/api/v1/conversations/{conversation.pk}/actions/{action_id}"
    answer = await apost(async_client, path, {"decision": "confirm"}, auth)
    assert answer.status_code == 200
    assert answer.json()["action"]["status"] == "expired"
    assert await refunds(order) == 0
    assert (await Order.objects.aget(pk=order.pk)).status == "pending"


async def frames_settled(socket, quiet=1.0):
    """Every frame the socket sends until it is quiet for `quiet` seconds."""
    frames = []
    # receive_nothing, not a timeout: a timed-out receive cancels the application.
    while not await socket.receive_nothing(timeout=quiet):
        frames.append(await socket.receive_json_from(timeout=10))
    return frames


async def test_a_waiting_card_comes_back_on_reconnect_until_it_is_answered_or_expires(settings):
    conversation, order, _ = await a_proposal()
    message, _ = await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.ASSISTANT
    )
    call = ToolCall(
        id="call_cancel",
        name="cancel_order",
        arguments=json.dumps({"order_number": order.number, "reason": "ordered by mistake"}),
    )
    [outcome] = [
        o
        async for o in tool_calls_execute(
            conversation_id=conversation.pk, message_id=message.pk, calls=[call]
        )
    ]
    action_id = outcome.data["action_id"]

    socket = await open_socket(conversation)
    try:
        cards = [f for f in await frames_settled(socket) if f["type"] == "action.proposed"]
        # The earlier proposal without a tool run of a message has no card to show again.
        assert [(c["action_id"], c["seq"], c["order_number"]) for c in cards] == [
            (action_id, message.seq, order.number)
        ]
        assert cards[0]["details"]["reason"] == "ordered by mistake"
        assert cards[0]["order"]["number"] == order.number
        await socket.send_json_to(
            {"type": "action.decide", "action_id": action_id, "decision": "decline"}
        )
        assert (await frames_until(socket, "action.decided"))[-1]["status"] == "declined"
    finally:
        await socket.disconnect()

    other = await sync_to_async(factories.conversation_create)(bot=conversation.bot)
    for opened in (conversation, other):
        socket = await open_socket(opened)
        try:
            frames = await frames_settled(socket)
            assert "action.proposed" not in [f["type"] for f in frames]
        finally:
            await socket.disconnect()

    # A new proposal past its time to live is not shown again either.
    call = ToolCall(id="call_again", name=call.name, arguments=call.arguments)
    [outcome] = [
        o
        async for o in tool_calls_execute(
            conversation_id=conversation.pk, message_id=message.pk, calls=[call]
        )
    ]
    await OrderAction.objects.filter(pk=outcome.data["action_id"]).aupdate(
        created_at=timezone.now() - timedelta(seconds=settings.SUPPORTBOT_ORDER_ACTION_TTL + 5)
    )
    socket = await open_socket(conversation)
    try:
        assert "action.proposed" not in [f["type"] for f in await frames_settled(socket)]
    finally:
        await socket.disconnect()
