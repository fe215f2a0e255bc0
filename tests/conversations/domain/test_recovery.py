"""Replies whose process died: leases, the sweep, answering again at most once."""

import os
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from conversations.domain import intake, recovery
from conversations.domain.messages import message_append
from conversations.models import Message, MessageRole, MessageState
from conversations.transports.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


def customer_says(conversation, text="Hello!", client_id="c-1") -> Message:
    message, _ = message_append(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text, client_id=client_id
    )
    return message


def orphan_reply(
    conversation, *, owner="elsewhere:4242:dead", expired=True, text="Half an"
) -> Message:
    """An assistant row a process started and never finished (it was killed)."""
    message, _ = message_append(
        conversation_id=conversation.pk,
        role=MessageRole.ASSISTANT,
        state=MessageState.STREAMING,
        text=text,
        lease_owner=owner,
        lease_expires_at=timezone.now() + timedelta(seconds=-1 if expired else 60),
    )
    return message


def assistant_rows(conversation) -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(conversation=conversation, role=MessageRole.ASSISTANT)
        .order_by("seq")
        .values_list("state", "finish_reason")
    )


async def test_a_running_reply_holds_a_lease_and_gives_it_back(conversation):
    await database_sync_to_async(customer_says)(conversation)
    assert intake.reply_start(conversation_id=conversation.pk)
    await intake.replies_wait()
    row = await Message.objects.aget(conversation=conversation, role=MessageRole.ASSISTANT)
    assert (row.state, row.lease_owner, row.lease_expires_at) == ("complete", "", None)


def test_leases_are_renewed_by_their_owner_only(conversation):
    customer_says(conversation)
    mine = orphan_reply(conversation, owner=recovery.process_id(), expired=True)
    assert recovery.leases_renew() == 1
    mine.refresh_from_db()
    assert mine.lease_expires_at > timezone.now()
    assert recovery.lost_replies_end() == []


async def test_an_expired_reply_is_ended_its_clients_told_and_answered_once(conversation):
    await database_sync_to_async(customer_says)(conversation)
    orphan = await database_sync_to_async(orphan_reply)(conversation)
    socket_ = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns),
        f"/ws/chat/{conversation.pk}/",
        headers=[(b"origin", b"http://testserver")],
    )
    await socket_.connect()
    # Joining the conversation already ends the lost reply: the client is told at once.
    await socket_.send_json_to({"type": "auth", "token": conversation.resume_token, "last_seq": 0})
    frames = []
    while not any(f.get("type") == "assistant.done" and f["state"] == "complete" for f in frames):
        frames.append(await socket_.receive_json_from(timeout=10))
    lost = [f for f in frames if f["type"] == "assistant.done" and f["seq"] == orphan.seq]
    assert lost and lost[0]["state"] == "interrupted" and lost[0]["finish_reason"] == "lost"
    await socket_.disconnect()
    await intake.replies_wait()
    assert await database_sync_to_async(assistant_rows)(conversation) == [
        ("interrupted", "lost"),
        ("complete", "stop"),
    ]


async def test_a_message_is_answered_again_at_most_once(conversation):
    await database_sync_to_async(customer_says)(conversation)
    await database_sync_to_async(orphan_reply)(conversation)
    first = await intake.lost_replies_recover()
    assert [lost.retry for lost in first] == [True]
    await intake.replies_wait()
    # The second answer is lost as well: the message is not answered a third time.
    await Message.objects.filter(
        conversation=conversation, state="complete", role="assistant"
    ).aupdate(
        state=MessageState.STREAMING,
        lease_owner="elsewhere:1:x",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    second = await intake.lost_replies_recover()
    assert [lost.retry for lost in second] == [False]
    assert intake.reply_running(conversation_id=conversation.pk) is None


async def test_a_live_lease_elsewhere_is_left_alone(conversation):
    await database_sync_to_async(customer_says)(conversation)
    await database_sync_to_async(orphan_reply)(conversation, expired=False)
    assert await intake.lost_replies_recover() == []


async def test_a_dead_process_of_this_host_loses_its_lease_at_once(conversation):
    await database_sync_to_async(customer_says)(conversation)
    # The lease has not expired, but its owner (this host, this pid, another token) is gone.
    owner = f"{recovery.process_id().rsplit(':', 2)[0]}:{os.getpid()}:0ldt0ken"
    await database_sync_to_async(orphan_reply)(conversation, owner=owner, expired=False)
    ended = await intake.lost_replies_recover()
    assert [lost.retry for lost in ended] == [True]
    await intake.replies_wait()


async def test_a_resend_of_an_unanswered_message_restarts_its_reply(conversation):
    await database_sync_to_async(customer_says)(conversation, client_id="c-9")
    await database_sync_to_async(orphan_reply)(conversation)
    posted = await intake.customer_message_post(
        conversation_id=conversation.pk, text="Hello!", client_id="c-9"
    )
    assert not posted.created and posted.reply_started
    await intake.replies_wait()
    assert await database_sync_to_async(assistant_rows)(conversation) == [
        ("interrupted", "lost"),
        ("complete", "stop"),
    ]
    # Answered now: another resend starts nothing.
    again = await intake.customer_message_post(
        conversation_id=conversation.pk, text="Hello!", client_id="c-9"
    )
    assert not again.reply_started


def tool_turn(conversation) -> None:
    """A finished tool-calling turn and its result: what a reply writes before it goes on."""
    message_append(
        conversation_id=conversation.pk,
        role=MessageRole.ASSISTANT,
        tool_calls=[{"id": "call_1", "name": "faq_search", "arguments": "{}"}],
    )
    message_append(
        conversation_id=conversation.pk, role=MessageRole.TOOL, text="{}", tool_call_id="call_1"
    )


async def test_a_reply_lost_after_a_tool_turn_is_answered_again(conversation):
    await database_sync_to_async(customer_says)(conversation, client_id="c-5")
    await database_sync_to_async(tool_turn)(conversation)
    await database_sync_to_async(orphan_reply)(conversation)
    await database_sync_to_async(tool_turn)(conversation)  # its own tool results follow it
    ended = await intake.lost_replies_recover()
    assert [lost.retry for lost in ended] == [True]
    await intake.replies_wait()
    assert (await database_sync_to_async(assistant_rows)(conversation))[-1] == ("complete", "stop")


async def test_a_resend_after_a_tool_turn_restarts_the_lost_reply(conversation):
    await database_sync_to_async(customer_says)(conversation, client_id="c-6")
    await database_sync_to_async(tool_turn)(conversation)
    await database_sync_to_async(orphan_reply)(conversation)
    posted = await intake.customer_message_post(
        conversation_id=conversation.pk, text="Hello!", client_id="c-6"
    )
    assert posted.reply_started
    await intake.replies_wait()


async def test_a_newer_message_is_not_answered_twice(conversation):
    await database_sync_to_async(customer_says)(conversation, client_id="c-7")
    await database_sync_to_async(orphan_reply)(conversation)
    await database_sync_to_async(customer_says)(conversation, text="Anyone?", client_id="c-8")
    ended = await intake.lost_replies_recover()
    assert [lost.retry for lost in ended] == [False]
