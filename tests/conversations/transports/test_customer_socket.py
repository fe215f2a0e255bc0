"""The customer's websocket, through Channels' WebsocketCommunicator and the real domain code."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from conversations import engine
from conversations.domain import intake, realtime
from conversations.domain.events import AssistantDelta, AssistantDone, AssistantStarted
from conversations.domain.messages import message_append
from conversations.edge.ratelimit import TokenBucket
from conversations.models import Attachment, Conversation, Message, MessageRole, MessageState
from conversations.transports.customer_socket import SLOW_CLIENT_FRAMES, max_frame_chars
from conversations.transports.routing import websocket_urlpatterns
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

application = URLRouter(websocket_urlpatterns)


async def open_socket(conversation, *, origin="http://testserver", token=None, last_seq=0):
    """A connected, authenticated socket and its ready frame."""
    socket = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}/",
        headers=[(b"origin", origin.encode()), (b"host", b"supportbot.example")],
    )
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to(
        {"type": "auth", "token": token or conversation.resume_token, "last_seq": last_seq}
    )
    ready = await socket.receive_json_from(timeout=5)
    assert ready["type"] == "ready", ready
    return socket, ready


async def frames_until(socket, kind, *, timeout=5.0):
    """Every frame up to and including the first of type `kind`."""
    frames = []
    while True:
        frame = await socket.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


def of_type(frames, kind):
    return [f for f in frames if f["type"] == kind]


# A greeting: the offline engine answers it without tools (no Celery worker needed).
def message_frame(text="Hello!", client_id="c-1", **extra):
    return {"type": "message", "text": text, "client_id": client_id, **extra}


class SlowEngine:
    """A stand-in for the engine that streams at the test's pace, keeping the real contract."""

    def __init__(self, words=20, delay=0.02):
        self.words, self.delay = words, delay

    async def reply_stream(self, *, conversation_id, cancel=None):
        message, _ = await database_sync_to_async(message_append)(
            conversation_id=conversation_id,
            role=MessageRole.ASSISTANT,
            state=MessageState.STREAMING,
        )
        yield AssistantStarted(seq=message.seq, message_id=message.pk, engine="test", model="t")
        text, state, reason = "", MessageState.COMPLETE, "stop"
        for n in range(self.words):
            if cancel is not None and cancel.is_set():
                state, reason = MessageState.INTERRUPTED, "stopped"
                break
            text += f"w{n} "
            yield AssistantDelta(seq=message.seq, text=f"w{n} ")
            await asyncio.sleep(self.delay)
        await Message.objects.filter(pk=message.pk).aupdate(
            text=text, state=state, finish_reason=reason
        )
        yield AssistantDone(
            seq=message.seq, message_id=message.pk, text=text, state=state, finish_reason=reason
        )


@pytest.fixture
def slow_engine(monkeypatch):
    slow = SlowEngine()
    monkeypatch.setattr(engine, "reply_stream", slow.reply_stream)
    return slow


async def test_message_is_stored_acknowledged_and_answered_as_a_stream(conversation):
    socket, ready = await open_socket(conversation)
    assert ready["status"] == "bot" and ready["last_seq"] == 0
    await socket.send_json_to(message_frame())
    accepted = await socket.receive_json_from(timeout=5)
    assert accepted == {
        "type": "message.accepted",
        "seq": 1,
        "message_id": accepted["message_id"],
        "client_id": "c-1",
        "duplicate": False,
    }
    stored = await Message.objects.aget(pk=accepted["message_id"])
    assert (stored.role, stored.text, stored.client_id) == ("customer", "Hello!", "c-1")
    frames = await frames_until(socket, "assistant.done", timeout=20)
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "message" and "assistant.started" in kinds
    deltas = of_type(frames, "assistant.delta")
    done = frames[-1]
    assert deltas and "".join(d["text"] for d in deltas).strip() == done["text"].strip()
    assert all(d["seq"] == done["seq"] for d in deltas) and done["seq"] > 1
    assert [d["offset"] for d in deltas] == sorted(d["offset"] for d in deltas)
    reply = await Message.objects.aget(pk=done["message_id"])
    assert reply.state == "complete" and reply.text == done["text"]
    await socket.disconnect()


async def test_a_resend_with_the_same_client_id_is_not_stored_twice(conversation):
    socket, _ = await open_socket(conversation)
    await socket.send_json_to(message_frame())
    first = await socket.receive_json_from(timeout=5)
    await frames_until(socket, "assistant.done", timeout=20)
    before = (await Conversation.objects.aget(pk=conversation.pk)).last_seq
    await socket.send_json_to(message_frame())
    again = await socket.receive_json_from(timeout=5)
    assert again["duplicate"] is True and again["seq"] == first["seq"]
    assert await socket.receive_nothing(timeout=0.3)  # and no second reply
    customer = Message.objects.filter(conversation=conversation, role="customer")
    assert await customer.acount() == 1
    assert (await Conversation.objects.aget(pk=conversation.pk)).last_seq == before
    await socket.disconnect()


async def test_a_resend_answers_a_message_whose_reply_never_started(conversation):
    await database_sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hi", client_id="c-9"
    )
    socket, _ = await open_socket(conversation, last_seq=1)
    await socket.send_json_to(message_frame(text="hi", client_id="c-9"))
    assert (await socket.receive_json_from(timeout=5))["duplicate"] is True
    done = (await frames_until(socket, "assistant.done"))[-1]
    assert done["seq"] == 2
    await socket.disconnect()


async def test_a_site_not_allowed_is_turned_away(conversation):
    socket = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}/",
        headers=[(b"origin", b"https://evil.example"), (b"host", b"supportbot.example")],
    )
    await socket.connect()
    error = await socket.receive_json_from(timeout=5)
    assert error["code"] == "origin_not_allowed"
    assert (await socket.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4403}
    await socket.disconnect()


async def test_the_servers_own_pages_may_connect(conversation):
    socket, _ = await open_socket(conversation, origin="https://supportbot.example")
    await socket.disconnect()


async def test_a_wrong_token_is_refused(conversation):
    socket = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}/", headers=[(b"origin", b"http://testserver")]
    )
    await socket.connect()
    await socket.send_json_to({"type": "auth", "token": "guess", "last_seq": 0})
    assert (await socket.receive_json_from(timeout=5))["code"] == "unauthorized"
    assert (await socket.receive_output(timeout=5))["code"] == 4401
    await socket.disconnect()


async def test_bad_frames_get_errors_and_the_socket_stays_usable(conversation):
    socket = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}/", headers=[(b"origin", b"http://testserver")]
    )
    await socket.connect()
    await socket.send_json_to(message_frame())
    assert (await socket.receive_json_from(timeout=10))["code"] == "not_authenticated"
    await socket.send_json_to({"type": "auth", "token": conversation.resume_token, "last_seq": 0})
    assert (await socket.receive_json_from(timeout=10))["type"] == "ready"
    bad_frames = {
        "not json": "malformed",
        "[1, 2]": "malformed",
        '{"no": "type"}': "malformed",
        '{"type": "dance"}': "unknown_type",
        json.dumps({"type": "message", "text": "x"}): "malformed",
        json.dumps({"type": "message", "text": 5, "client_id": "c"}): "malformed",
        json.dumps({"type": "rate", "rating": 9}): "invalid_rating",
        json.dumps({"type": "message", "text": "x" * (max_frame_chars() + 1)}): "frame_too_large",
    }
    for raw, code in bad_frames.items():
        await socket.send_to(text_data=raw)
        error = await socket.receive_json_from(timeout=10)
        assert (error["type"], error["code"]) == ("error", code), raw
        assert error["message"]
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await socket.receive_json_from(timeout=10))["code"] == "unsupported"
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=10))["type"] == "pong"
    await socket.disconnect()


async def test_a_too_long_message_is_refused(conversation, settings):
    settings.SUPPORTBOT_MAX_MESSAGE_CHARS = 10
    socket, _ = await open_socket(conversation)
    await socket.send_json_to(message_frame(text="x" * 11))
    error = await socket.receive_json_from(timeout=10)
    assert (error["code"], error["client_id"]) == ("too_long", "c-1")
    assert await Message.objects.filter(conversation=conversation).acount() == 0
    await socket.disconnect()


async def test_messages_are_rate_limited_per_socket(conversation, slow_engine, monkeypatch):
    # The bucket's clock stands still: a slow machine must not refill it mid-count.
    monkeypatch.setattr(TokenBucket, "clock", staticmethod(lambda: 1000.0))
    socket, _ = await open_socket(conversation)
    codes = []
    for n in range(12):
        await socket.send_json_to(message_frame(text=f"m{n}", client_id=f"c-{n}"))
    while len(codes) < 12:
        frame = await socket.receive_json_from(timeout=10)
        if frame["type"] in ("message.accepted", "error"):
            codes.append(frame.get("code", "ok"))
    assert codes.count("ok") == 10 and codes.count("rate_limited") == 2
    await socket.disconnect()
    await intake.replies_wait()


async def test_reconnecting_with_the_last_seq_receives_only_what_was_missed(conversation):
    socket, _ = await open_socket(conversation)
    await socket.send_json_to(message_frame())
    done = (await frames_until(socket, "assistant.done", timeout=20))[-1]
    await socket.disconnect()

    socket, ready = await open_socket(conversation, last_seq=0)
    assert ready["last_seq"] >= done["seq"]
    replay = [await socket.receive_json_from(timeout=10) for _ in range(ready["last_seq"])]
    assert [f["message"]["seq"] for f in replay] == list(range(1, ready["last_seq"] + 1))
    assert replay[0]["message"]["client_id"] == "c-1"
    reply = next(f["message"] for f in replay if f["message"]["seq"] == done["seq"])
    assert (reply["role"], reply["text"]) == ("assistant", done["text"])
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()

    socket, _ = await open_socket(conversation, last_seq=1)
    missed = [await socket.receive_json_from(timeout=10) for _ in range(ready["last_seq"] - 1)]
    assert [f["message"]["seq"] for f in missed] == list(range(2, ready["last_seq"] + 1))
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_the_reply_goes_on_when_the_client_drops(conversation, slow_engine):
    socket, _ = await open_socket(conversation)
    await socket.send_json_to(message_frame())
    await frames_until(socket, "assistant.started")
    await socket.disconnect()
    await intake.replies_wait()
    reply = await Message.objects.aget(conversation=conversation, role="assistant")
    assert reply.state == "complete" and reply.text.split()[-1] == "w19"


async def test_a_client_reconnecting_mid_reply_gets_all_of_it(conversation, slow_engine):
    slow_engine.delay = 0.1
    first, _ = await open_socket(conversation)
    await first.send_json_to(message_frame())
    await frames_until(first, "assistant.delta")
    await first.disconnect()
    await asyncio.sleep(0.1)

    second, _ = await open_socket(conversation, last_seq=1)
    snapshot = await second.receive_json_from(timeout=10)
    assert snapshot["message"]["state"] == "streaming"
    text = snapshot["message"]["text"]
    assert text
    frames = await frames_until(second, "assistant.done")
    for delta in of_type(frames, "assistant.delta"):
        # What the snapshot already held is skipped by offset, as the widget does.
        if delta["offset"] + len(delta["text"]) > len(text):
            assert delta["offset"] <= len(text)
            text += delta["text"][len(text) - delta["offset"] :]
    assert text == frames[-1]["text"] == " ".join(f"w{n}" for n in range(20)) + " "
    await second.disconnect()


async def test_every_tab_sees_the_stream(conversation, slow_engine):
    tab_one, _ = await open_socket(conversation)
    tab_two, _ = await open_socket(conversation)
    await tab_one.send_json_to(message_frame())
    one = await frames_until(tab_one, "assistant.done")
    two = await frames_until(tab_two, "assistant.done")
    assert of_type(two, "message")[0]["message"]["text"] == "Hello!"
    assert "".join(d["text"] for d in of_type(two, "assistant.delta")) == one[-1]["text"]
    await tab_one.disconnect()
    await tab_two.disconnect()


async def test_stop_cancels_the_reply_and_keeps_the_partial_text(conversation, slow_engine):
    slow_engine.delay = 0.1
    socket, _ = await open_socket(conversation)
    await socket.send_json_to(message_frame())
    await frames_until(socket, "assistant.delta")
    await socket.send_json_to({"type": "stop"})
    done = (await frames_until(socket, "assistant.done"))[-1]
    assert done["state"] == "interrupted" and done["finish_reason"] == "stopped"
    assert done["text"] and done["text"].split()[-1] != "w19"
    reply = await Message.objects.aget(pk=done["message_id"])
    assert (reply.state, reply.text) == ("interrupted", done["text"])
    await socket.disconnect()


async def test_after_asking_for_a_human_the_bot_stays_silent(conversation):
    socket, _ = await open_socket(conversation)
    await socket.send_json_to({"type": "handoff"})
    frames = await frames_until(socket, "status.changed")
    assert frames[-1]["status"] == "waiting"
    assert of_type(frames, "message")[0]["message"]["event"] == "handoff_requested"
    await socket.send_json_to(message_frame(text="hello? a human please"))
    accepted = await socket.receive_json_from(timeout=10)
    assert accepted["type"] == "message.accepted"
    assert (await socket.receive_json_from(timeout=10))["type"] == "message"
    assert await socket.receive_nothing(timeout=0.3)
    assert not await Message.objects.filter(conversation=conversation, role="assistant").aexists()
    await socket.disconnect()


async def test_the_customer_rates_the_conversation(conversation):
    socket, _ = await open_socket(conversation)
    await socket.send_json_to({"type": "rate", "rating": 4, "comment": "fast"})
    await frames_until(socket, "status.changed")
    stored = await Conversation.objects.aget(pk=conversation.pk)
    assert (stored.csat_rating, stored.csat_comment) == (4, "fast")
    await socket.disconnect()


async def test_attachments_are_bound_to_the_message(conversation):
    attachment = await Attachment.objects.acreate(
        conversation=conversation, file="x.png", content_type="image/png", size=10, sha256="0"
    )
    other = await database_sync_to_async(factories.conversation_create)(bot=conversation.bot)
    foreign = await Attachment.objects.acreate(
        conversation=other, file="y.png", content_type="image/png", size=10, sha256="0"
    )
    socket, _ = await open_socket(conversation)
    await socket.send_json_to(
        message_frame(text="", client_id="c-2", attachments=[str(foreign.pk)])
    )
    assert (await socket.receive_json_from(timeout=10))["code"] == "invalid_attachment"
    await socket.send_json_to(message_frame(client_id="c-3", attachments=["not-a-uuid"]))
    assert (await socket.receive_json_from(timeout=10))["code"] == "invalid_attachment"
    await socket.send_json_to(message_frame(text="", attachments=[str(attachment.pk)]))
    accepted = await socket.receive_json_from(timeout=10)
    created = await socket.receive_json_from(timeout=10)
    assert created["message"]["attachments"][0]["id"] == str(attachment.pk)
    await attachment.arefresh_from_db()
    assert attachment.message_id == accepted["message_id"]
    await frames_until(socket, "assistant.done")
    await socket.disconnect()


async def test_an_empty_message_is_refused(conversation):
    socket, _ = await open_socket(conversation)
    await socket.send_json_to(message_frame(text="   "))
    assert (await socket.receive_json_from(timeout=10))["code"] == "empty"
    await socket.disconnect()


async def test_a_closed_conversation_takes_no_messages(conversation):
    await Conversation.objects.filter(pk=conversation.pk).aupdate(status="closed")
    socket, ready = await open_socket(conversation)
    assert ready["status"] == "closed"
    await socket.send_json_to(message_frame())
    assert (await socket.receive_json_from(timeout=10))["code"] == "closed"
    await socket.disconnect()


async def test_an_agent_taking_over_stops_the_reply_at_once(conversation, slow_engine, agent_user):
    from conversations.domain.status import conversation_claim

    slow_engine.delay = 0.1  # twenty words: two seconds if nothing stops it
    socket, _ = await open_socket(conversation)
    await socket.send_json_to(message_frame())
    await frames_until(socket, "assistant.delta")
    await database_sync_to_async(conversation_claim)(
        conversation_id=conversation.pk, agent=agent_user
    )
    frames = await frames_until(socket, "assistant.done", timeout=1.0)
    assert of_type(frames, "status.changed")[0]["status"] == "agent"
    done = frames[-1]
    assert done["state"] == "interrupted" and len(done["text"].split()) < 10
    await socket.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(message_frame(text="Hel\x00lo", client_id="c-nul"), id="nul-in-text"),
        pytest.param(message_frame(text="Hel\ud800lo", client_id="c-sur"), id="surrogate-in-text"),
        pytest.param(message_frame(client_id="c-\x00"), id="nul-in-client-id"),
        pytest.param(message_frame(client_id="c-\udfff"), id="surrogate-in-client-id"),
        pytest.param({"type": "rate", "rating": 5, "comment": "ni\x00ce"}, id="nul-in-comment"),
        pytest.param({"type": "rate", "rating": 5, "comment": "ni\ud83dce"}, id="surrogate"),
    ],
)
async def test_unstorable_text_is_malformed_and_the_socket_stays_open(conversation, frame):
    socket, _ = await open_socket(conversation)
    # json.dumps escapes them (\u0000, \ud800) as any client's JSON encoder would.
    await socket.send_to(text_data=json.dumps(frame))
    error = await socket.receive_json_from(timeout=10)
    assert (error["type"], error["code"]) == ("error", "malformed")
    if frame.get("client_id") in ("c-nul", "c-sur"):
        assert error["client_id"] == frame["client_id"]
    await socket.send_json_to(message_frame(text="Hello!", client_id="c-ok"))
    frames = await frames_until(socket, "assistant.done")
    assert of_type(frames, "message.accepted")[0]["client_id"] == "c-ok"
    await socket.disconnect()
    texts = [
        m.text async for m in Message.objects.filter(conversation=conversation, role="customer")
    ]
    assert texts == ["Hello!"]
    await intake.replies_wait()


async def test_a_route_that_is_not_a_conversation_closes_with_4404():
    socket = WebsocketCommunicator(
        application, "/ws/chat/not-a-uuid/", headers=[(b"origin", b"http://testserver")]
    )
    connected, _ = await socket.connect()
    assert connected
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4404}
    await socket.disconnect()


async def test_refused_frames_carry_their_client_id(conversation, slow_engine):
    socket, _ = await open_socket(conversation)
    huge = message_frame(text="x" * (max_frame_chars() + 1), client_id="c-huge")
    await socket.send_to(text_data=json.dumps(huge))
    error = await socket.receive_json_from(timeout=10)
    assert (error["code"], error["client_id"]) == ("frame_too_large", "c-huge")
    # 40 frames at once: past the per-socket frame limit every refusal names its message.
    for n in range(40):
        await socket.send_json_to(message_frame(text=f"m{n}", client_id=f"b-{n}"))
    answered: dict[str, str] = {}
    while len(answered) < 40:
        frame = await socket.receive_json_from(timeout=10)
        if frame["type"] in ("message.accepted", "error"):
            answered[frame["client_id"]] = frame.get("code", "ok")
    assert set(answered) == {f"b-{n}" for n in range(40)}
    assert "rate_limited" in answered.values()
    await socket.disconnect()
    await intake.replies_wait()


async def test_the_longest_message_fits_a_frame_however_it_is_escaped(conversation, settings):
    socket, _ = await open_socket(conversation)
    limit = settings.SUPPORTBOT_MAX_MESSAGE_CHARS
    for n, text in enumerate(["Я" * limit, "😀" * limit, "\x07" * limit]):
        # json.dumps defaults (ensure_ascii): 6 characters for "Я", 12 for an emoji.
        await socket.send_to(text_data=json.dumps(message_frame(text=text, client_id=f"c-{n}")))
        while True:
            frame = await socket.receive_json_from(timeout=10)
            if frame["type"] in ("message.accepted", "error"):
                break
        assert frame["type"] == "message.accepted", frame
    await socket.disconnect()
    await intake.replies_wait()


QUERIES_AUTH_REPLAY = 3  # the conversation by token; the messages, their authors, attachments


@pytest.mark.parametrize("turns", [1, 6])
def test_the_auth_replay_takes_the_same_queries_however_long_the_history(
    conversation, agent_user, turns, settings, tmp_path, django_assert_num_queries
):
    from conversations.domain.conversation import conversation_for_token
    from conversations.transports.customer_socket import _replay

    settings.MEDIA_ROOT = tmp_path
    factories.turns_with_images_create(conversation=conversation, agent=agent_user, turns=turns)
    with django_assert_num_queries(QUERIES_AUTH_REPLAY):
        opened = conversation_for_token(
            conversation_id=str(conversation.pk), token=conversation.resume_token
        )
        frames = _replay(opened.pk, 0)
    assert len(frames) == 2 * turns and frames[1]["agent_name"]


async def test_a_burst_of_events_reaches_the_socket_whole_and_in_order(conversation):
    socket, _ = await open_socket(conversation)
    # Published side by side: every one is on its way before the socket sends any.
    await asyncio.gather(
        *(
            realtime.event_publish(
                conversation_id=conversation.pk,
                event=AssistantDelta(seq=7, text=f"t{n} ", offset=n),
            )
            for n in range(500)
        )
    )
    frames = [await socket.receive_json_from(timeout=5) for _ in range(500)]
    assert [f["offset"] for f in frames] == list(range(500))
    assert all(f["type"] == "assistant.delta" and f["seq"] == 7 for f in frames)
    await socket.disconnect()


async def test_a_client_that_falls_too_far_behind_is_closed_with_4503(conversation):
    socket, _ = await open_socket(conversation)
    await asyncio.gather(
        *(
            realtime.event_publish(
                conversation_id=conversation.pk,
                event=AssistantDelta(seq=7, text="x", offset=n),
            )
            for n in range(SLOW_CLIENT_FRAMES + 100)
        )
    )
    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "slow_client"
    assert (await socket.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4503}
    await socket.disconnect()
    # Another socket on the same conversation is not held back by it.
    other, _ = await open_socket(conversation)
    await realtime.event_publish(
        conversation_id=conversation.pk, event=AssistantDelta(seq=7, text="y", offset=0)
    )
    assert (await other.receive_json_from(timeout=5))["text"] == "y"
    await other.disconnect()
