import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from conversations.domain.messages import message_append
from conversations.domain.realtime import conversation_group
from conversations.domain.status import conversation_claim, handoff_request
from conversations.models import ConversationStatus, Message, MessageRole, ReplyDraft, ToolRun
from conversations.transports.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)
application = URLRouter(websocket_urlpatterns)


@sync_to_async
def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def _connect(path: str, user=None, origin: bytes = b"http://testserver"):
    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", f"sessionid={await _session_cookie(user)}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def _until(communicator, kind: str, timeout: float = 3.0) -> dict:
    """The next frame of this type (earlier frames of other types are skipped)."""
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == kind:
            return frame


async def test_strangers_and_other_sites_are_refused(conversation, agent_user):
    _, connected, code = await _connect("/ws/agent/queue/")
    assert not connected and code == 4403
    customer_like = await get_user_model().objects.acreate(username="eve")
    _, connected, code = await _connect("/ws/agent/queue/", customer_like)
    assert not connected and code == 4403
    _, connected, _ = await _connect(
        f"/ws/agent/conversations/{conversation.pk}/", agent_user, origin=b"https://evil.example"
    )
    assert not connected


async def test_queue_updates_live_when_a_customer_asks_for_a_human(conversation, agent_user):
    communicator, connected, _ = await _connect("/ws/agent/queue/", agent_user)
    assert connected
    first = await _until(communicator, "agent.queue")
    assert first["conversations"] == []
    await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="I want a human"
    )
    await sync_to_async(handoff_request)(conversation_id=conversation.pk, summary="refund")
    update = await _until(communicator, "agent.queue")
    [entry] = update["conversations"]
    assert entry["id"] == str(conversation.pk) and entry["status"] == "waiting"
    assert entry["last_customer_text"] == "I want a human" and entry["waited_seconds"] >= 0
    await communicator.disconnect()


async def test_agent_claims_watches_and_replies_and_the_customer_sees_it(conversation, agent_user):
    await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hello?"
    )
    await sync_to_async(handoff_request)(conversation_id=conversation.pk)
    # The customer's socket stands in as a plain channel in the conversation's group.
    layer = get_channel_layer()
    customer = await layer.new_channel()
    await layer.group_add(conversation_group(conversation.pk), customer)

    agent, connected, _ = await _connect(f"/ws/agent/conversations/{conversation.pk}/", agent_user)
    assert connected
    history = await _until(agent, "message")
    assert history["message"]["text"] == "hello?"
    status = await _until(agent, "status.changed")
    assert status["status"] == ConversationStatus.WAITING

    await agent.send_json_to({"type": "claim"})
    status = await _until(agent, "status.changed")
    assert (status["status"], status["agent_name"]) == ("agent", "Alice")

    await agent.send_json_to({"type": "reply", "text": "Alice here, how can I help?"})
    said = await _until(agent, "agent.message")
    assert said["text"] == "Alice here, how can I help?"
    seen = []
    while len(seen) < 10:
        event = (await asyncio.wait_for(layer.receive(customer), 3))["event"]
        seen.append(event["type"])
        if event["type"] == "agent.message":
            assert event["text"] == "Alice here, how can I help?"
            break
    assert "agent.message" in seen

    # Live stream of the customer side reaches the agent too.
    await layer.group_send(
        conversation_group(conversation.pk),
        {"type": "chat.event", "event": {"type": "assistant.delta", "seq": 9, "text": "Hi"}},
    )
    assert (await _until(agent, "assistant.delta"))["text"] == "Hi"

    await agent.send_json_to({"type": "release"})
    assert (await _until(agent, "status.changed"))["status"] == "bot"
    await agent.send_json_to({"type": "close"})
    assert (await _until(agent, "status.changed"))["status"] == "closed"
    await agent.send_json_to({"type": "reply", "text": "too late"})
    assert (await _until(agent, "error"))["code"] == "closed"
    await agent.disconnect()
    await layer.group_discard(conversation_group(conversation.pk), customer)


async def test_second_agent_cannot_take_a_claimed_conversation(
    conversation, agent_user, other_agent
):
    alice, _, _ = await _connect(f"/ws/agent/conversations/{conversation.pk}/", agent_user)
    bob, _, _ = await _connect(f"/ws/agent/conversations/{conversation.pk}/", other_agent)
    assert (await _until(alice, "status.changed"))["status"] == "bot"  # on connect
    await alice.send_json_to({"type": "claim"})
    assert (await _until(alice, "status.changed"))["status"] == "agent"
    await bob.send_json_to({"type": "claim"})
    assert (await _until(bob, "error"))["code"] == "taken"
    await bob.send_json_to({"type": "reply", "text": "me too"})
    assert (await _until(bob, "error"))["code"] == "not_owner"
    await alice.disconnect()
    await bob.disconnect()


async def test_reviewer_without_change_permission_may_watch_but_not_act(conversation):
    from django.contrib.auth.models import Permission

    @sync_to_async
    def reviewer():
        from django.contrib.auth.models import Group

        user = get_user_model().objects.create_user(username="rita", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_conversation"))
        reviewers = Group.objects.create(name="reviewers")  # a team with no permissions
        conversation.bot.agent_groups.add(reviewers)
        user.groups.add(reviewers)
        return user

    communicator, connected, _ = await _connect(
        f"/ws/agent/conversations/{conversation.pk}/", await reviewer()
    )
    assert connected
    await communicator.send_json_to({"type": "claim"})
    assert (await _until(communicator, "error"))["code"] == "forbidden"
    await communicator.disconnect()


async def test_unknown_conversation_closes(agent_user):
    _, connected, code = await _connect(
        "/ws/agent/conversations/00000000-0000-0000-0000-000000000000/", agent_user
    )
    assert not connected and code == 4404


async def test_typing_reaches_the_customer_throttled_and_only_from_the_owner(
    conversation, agent_user, other_agent
):
    from conversations.models import AgentProfile

    await AgentProfile.objects.acreate(user=agent_user, display_name="Alice from Support")
    await sync_to_async(handoff_request)(conversation_id=conversation.pk)
    layer = get_channel_layer()
    customer = await layer.new_channel()
    await layer.group_add(conversation_group(conversation.pk), customer)

    async def customer_typing_frames(wait: float = 0.5) -> list[dict]:
        frames = []
        while True:
            try:
                event = (await asyncio.wait_for(layer.receive(customer), wait))["event"]
            except TimeoutError:
                return frames
            if event["type"] == "typing":
                frames.append(event)

    alice, _, _ = await _connect(f"/ws/agent/conversations/{conversation.pk}/", agent_user)
    bob, _, _ = await _connect(f"/ws/agent/conversations/{conversation.pk}/", other_agent)
    await _until(alice, "status.changed")
    await _until(bob, "status.changed")
    await alice.send_json_to({"type": "typing"})  # not the owner yet: nothing is relayed
    assert await customer_typing_frames() == []

    await alice.send_json_to({"type": "claim"})
    summary = await _until(alice, "takeover.summary")
    assert "summary" in summary
    for _ in range(3):
        await alice.send_json_to({"type": "typing", "active": True})
    await bob.send_json_to({"type": "typing"})  # watching, not owning
    frames = await customer_typing_frames()
    assert frames == [
        {"type": "typing", "role": "agent", "active": True, "agent_name": "Alice from Support"}
    ]
    await alice.send_json_to({"type": "typing", "active": False})
    assert [f["active"] for f in await customer_typing_frames()] == [False]
    await alice.disconnect()
    await bob.disconnect()
    await layer.group_discard(conversation_group(conversation.pk), customer)


async def test_a_draft_streams_to_the_asking_agent_only(conversation, agent_user, settings):
    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_OFFLINE_DELAY = 0
    await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hello"
    )
    layer = get_channel_layer()
    customer = await layer.new_channel()
    await layer.group_add(conversation_group(conversation.pk), customer)
    agent, _, _ = await _connect(f"/ws/agent/conversations/{conversation.pk}/", agent_user)
    await _until(agent, "status.changed")
    await agent.send_json_to({"type": "draft"})
    done = await _until(agent, "draft.done", timeout=10)
    assert done["text"].startswith("Hi!")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(customer), 0.5)
    assert await Message.objects.filter(conversation=conversation).acount() == 1
    await agent.disconnect()
    await layer.group_discard(conversation_group(conversation.pk), customer)


async def test_a_draft_whose_console_goes_is_ended_not_left_streaming(
    conversation, agent_user, settings
):
    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_OFFLINE_DELAY = 0.2  # a word every 0.2 s: still writing at disconnect
    await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hello"
    )
    agent, _, _ = await _connect(f"/ws/agent/conversations/{conversation.pk}/", agent_user)
    await _until(agent, "status.changed")
    await agent.send_json_to({"type": "draft"})
    await _until(agent, "draft.delta", timeout=10)
    await agent.disconnect()
    for _ in range(50):
        states = [d.state async for d in ReplyDraft.objects.filter(conversation=conversation)]
        if states != ["streaming"]:
            break
        await asyncio.sleep(0.1)
    assert states == ["interrupted"]


async def test_nothing_of_a_draft_reaches_the_customers_socket_or_the_messages(
    conversation, agent_user, settings
):
    """A real customer socket open beside the console: the draft, its lookups included, is
    the agent's alone, and no row the customer could ever be sent is written."""
    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_OFFLINE_DELAY = 0
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the worker path: tools/test_worker.py
    await sync_to_async(message_append)(
        conversation_id=conversation.pk,
        role=MessageRole.CUSTOMER,
        text="How long does a refund take?",
    )
    await sync_to_async(conversation_claim)(conversation_id=conversation.pk, agent=agent_user)
    customer = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}/", headers=[(b"origin", b"http://testserver")]
    )
    assert (await customer.connect())[0]
    await customer.send_json_to({"type": "auth", "token": conversation.resume_token})
    replayed = []  # the ready frame, the history, the takeover: all before the draft
    while not await customer.receive_nothing(timeout=0.5):
        replayed.append((await customer.receive_json_from())["type"])
    assert "ready" in replayed
    agent, _, _ = await _connect(f"/ws/agent/conversations/{conversation.pk}/", agent_user)
    await _until(agent, "status.changed")
    before = await Message.objects.filter(conversation=conversation).acount()

    await agent.send_json_to({"type": "draft"})
    tool = await _until(agent, "draft.tool", timeout=10)
    done = await _until(agent, "draft.done", timeout=10)

    assert tool["tool"] == "search_faq" and done["text"]
    assert await customer.receive_nothing(timeout=1.0)
    assert await Message.objects.filter(conversation=conversation).acount() == before
    assert await ToolRun.objects.filter(conversation=conversation, message=None).acount() == 1
    await agent.disconnect()
    await customer.disconnect()


async def test_history_longer_than_one_page_arrives_whole(conversation, agent_user):
    @sync_to_async
    def fill():
        rows = [
            Message(conversation=conversation, seq=n, role=MessageRole.CUSTOMER, text=f"m{n}")
            for n in range(1, 1203)
        ]
        Message.objects.bulk_create(rows)
        type(conversation).objects.filter(pk=conversation.pk).update(last_seq=1202)

    await fill()
    agent, _, _ = await _connect(f"/ws/agent/conversations/{conversation.pk}/", agent_user)
    seqs = []
    while True:
        frame = await agent.receive_json_from(timeout=10)
        if frame["type"] == "status.changed":
            break
        seqs.append(frame["message"]["seq"])
    assert seqs == list(range(1, 1203))
    await agent.send_json_to({"type": "resume", "after_seq": 600})
    resumed = [(await agent.receive_json_from(timeout=10))["message"]["seq"] for _ in range(602)]
    assert resumed == list(range(601, 1203))
    await agent.disconnect()
