"""Replies as one subscriber sees them (the API's SSE and the chat command use this)."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from conversations import engine
from conversations.domain import intake
from conversations.domain.events import AssistantDelta, AssistantDone, AssistantStarted
from conversations.domain.messages import message_append
from conversations.models import Message, MessageRole, MessageState
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

# Begin, the client id lookup, the lock that takes the sequence number (status and webhook flag
# returned), the row, commit.
QUERIES_POST = 5
QUERIES_RESEND = 7  # the stored message, and any reply lost with its process (2)


def burst_engine(words: int, pause: float):
    """Streams `words` tokens as fast as it can, then pauses, then one more."""

    async def reply_stream(*, conversation_id, cancel=None):
        message, _ = await database_sync_to_async(message_append)(
            conversation_id=conversation_id, role=MessageRole.ASSISTANT, state="streaming"
        )
        yield AssistantStarted(seq=message.seq, message_id=message.pk, engine="t", model="t")
        text = ""
        for n in range(words):
            text += f"t{n} "
            yield AssistantDelta(seq=message.seq, text=f"t{n} ")
        await asyncio.sleep(pause)
        text += "end"
        yield AssistantDelta(seq=message.seq, text="end")
        await Message.objects.filter(pk=message.pk).aupdate(text=text, state="complete")
        yield AssistantDone(
            seq=message.seq,
            message_id=message.pk,
            text=text,
            state=MessageState.COMPLETE,
            finish_reason="stop",
        )

    return reply_stream


async def test_deltas_are_coalesced_but_the_first_token_is_not_held_back(conversation, monkeypatch):
    monkeypatch.setattr(engine, "reply_stream", burst_engine(50, pause=0.2))
    events = [e async for e in intake.reply_events(conversation_id=conversation.pk)]
    assert isinstance(events[0], AssistantStarted) and isinstance(events[-1], AssistantDone)
    deltas = [e for e in events if isinstance(e, AssistantDelta)]
    assert deltas[0].text == "t0 " and deltas[0].offset == 0
    assert len(deltas) <= 4  # 51 tokens: the first, the burst, the one after the pause
    assert deltas[-1].text == "end"  # flushed on its own after the quiet spell
    assert "".join(d.text for d in deltas) == events[-1].text
    assert [d.offset for d in deltas] == [
        sum(len(x.text) for x in deltas[:i]) for i in range(len(deltas))
    ]
    await intake.replies_wait()
    assert intake.reply_running(conversation_id=conversation.pk) is None


async def test_one_reply_at_a_time_and_messages_meanwhile_get_one_more(conversation, monkeypatch):
    calls = []

    async def counting(*, conversation_id, cancel=None):
        calls.append(conversation_id)
        async for event in burst_engine(3, pause=0.05)(conversation_id=conversation_id):
            yield event

    monkeypatch.setattr(engine, "reply_stream", counting)
    assert intake.reply_start(conversation_id=conversation.pk) is True
    assert intake.reply_start(conversation_id=conversation.pk) is False
    assert intake.reply_start(conversation_id=conversation.pk) is False
    await intake.replies_wait()
    assert len(calls) == 2


async def test_an_engine_failure_becomes_an_error_event(conversation, monkeypatch):
    async def broken(*, conversation_id, cancel=None):
        raise RuntimeError("model on fire")
        yield  # pragma: no cover

    monkeypatch.setattr(engine, "reply_stream", broken)
    events = [e async for e in intake.reply_events(conversation_id=conversation.pk)]
    assert [e.type for e in events] == ["error"] and events[0].code == "reply_failed"


async def test_asked_while_a_reply_runs_a_subscriber_gets_the_next_one(conversation, monkeypatch):
    monkeypatch.setattr(engine, "reply_stream", burst_engine(3, pause=0.05))
    running = intake.reply_events(conversation_id=conversation.pk)
    # Subscribed at the call, not at the first iteration: nothing of the next reply is missed.
    following = intake.reply_events(conversation_id=conversation.pk)
    await asyncio.sleep(0.2)
    first = [e async for e in running]
    second = [e async for e in following]
    assert isinstance(second[0], AssistantStarted) and isinstance(second[-1], AssistantDone)
    assert second[0].seq > first[-1].seq
    await intake.replies_wait()


async def test_a_message_sent_after_stop_is_still_answered(conversation, monkeypatch):
    monkeypatch.setattr(engine, "reply_stream", burst_engine(3, pause=0.3))
    intake.reply_start(conversation_id=conversation.pk)
    await asyncio.sleep(0.05)
    assert intake.reply_stop(conversation_id=conversation.pk)
    # The customer writes again while the stopped reply is still winding down.
    assert intake.reply_start(conversation_id=conversation.pk) is False
    await intake.replies_wait()
    texts = [
        m.text
        async for m in Message.objects.filter(
            conversation_id=conversation.pk, role=MessageRole.ASSISTANT
        ).order_by("seq")
    ]
    assert len(texts) == 2 and texts[-1].endswith("end")


# --- Pinned query counts (Zulip-style): a regression on the hot path fails here.


def test_customer_message_post_takes_a_pinned_number_of_queries(
    conversation, agent_user, monkeypatch, django_assert_num_queries, settings, tmp_path
):
    from asgiref.sync import async_to_sync, sync_to_async

    settings.MEDIA_ROOT = tmp_path
    factories.turns_with_images_create(conversation=conversation, agent=agent_user, turns=3)
    # The queries on this thread's connection, whichever executor the database uses; and no
    # reply (the engine's own queries are pinned in tests/conversations/engine/test_loop.py).
    monkeypatch.setattr(intake, "database_call", lambda func: sync_to_async(func))
    monkeypatch.setattr(intake, "reply_start", lambda *, conversation_id: False)
    post = async_to_sync(intake.customer_message_post)
    with django_assert_num_queries(QUERIES_POST):
        posted = post(conversation_id=conversation.pk, text="hello", client_id="c-1")
    assert posted.created
    with django_assert_num_queries(QUERIES_RESEND):
        again = post(conversation_id=conversation.pk, text="hello", client_id="c-1")
    assert not again.created
