import asyncio

import pytest
from channels.layers import get_channel_layer

from conversations.agents.messaging import agent_reply
from conversations.domain.errors import DomainError
from conversations.domain.messages import message_append
from conversations.domain.realtime import conversation_group
from conversations.domain.status import (
    conversation_claim,
    conversation_close,
    handoff_request,
)
from conversations.engine import reply_stream
from conversations.models import ConversationStatus, Message, MessageRole, MessageState


def test_only_the_owner_may_reply(conversation, agent_user, other_agent):
    with pytest.raises(DomainError) as caught:
        agent_reply(conversation_id=conversation.pk, agent=agent_user, text="hello")
    assert caught.value.code == "not_owner"
    conversation_claim(conversation_id=conversation.pk, agent=agent_user)
    with pytest.raises(DomainError):
        agent_reply(conversation_id=conversation.pk, agent=other_agent, text="me too")
    message = agent_reply(
        conversation_id=conversation.pk, agent=agent_user, text="  Hi, Alice here "
    )
    assert (message.role, message.text, message.author) == (
        MessageRole.AGENT,
        "Hi, Alice here",
        agent_user,
    )


def test_reply_is_idempotent_on_client_id_and_refuses_empty_or_closed(conversation, agent_user):
    conversation_claim(conversation_id=conversation.pk, agent=agent_user)
    first = agent_reply(conversation_id=conversation.pk, agent=agent_user, text="x", client_id="a1")
    again = agent_reply(conversation_id=conversation.pk, agent=agent_user, text="x", client_id="a1")
    assert first.pk == again.pk
    with pytest.raises(DomainError) as caught:
        agent_reply(conversation_id=conversation.pk, agent=agent_user, text="   ")
    assert caught.value.code == "empty"
    conversation_close(conversation_id=conversation.pk)
    with pytest.raises(DomainError) as caught:
        agent_reply(conversation_id=conversation.pk, agent=agent_user, text="bye")
    assert caught.value.code == "closed"


@pytest.mark.django_db(transaction=True)
async def test_reply_reaches_the_conversations_sockets_after_commit(conversation, agent_user):
    from asgiref.sync import sync_to_async

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(conversation_group(conversation.pk), channel)
    await sync_to_async(conversation_claim)(conversation_id=conversation.pk, agent=agent_user)
    frames = [await asyncio.wait_for(layer.receive(channel), 2) for _ in range(2)]  # claim
    await sync_to_async(agent_reply)(
        conversation_id=conversation.pk, agent=agent_user, text="I can help"
    )
    frames = [(await asyncio.wait_for(layer.receive(channel), 2))["event"] for _ in range(2)]
    assert frames[0]["type"] == "agent.message" and frames[0]["agent_name"] == "Alice"
    assert frames[1]["type"] == "message" and frames[1]["message"]["text"] == "I can help"
    await layer.group_discard(conversation_group(conversation.pk), channel)


# The race: the bot is streaming when an agent takes over. The engine re-checks the owner right
# before its final write, so no bot text is stored as a complete reply after the claim.
@pytest.mark.django_db(transaction=True)
async def test_agent_claim_mid_stream_wins_over_the_bot_reply(conversation, agent_user):
    from asgiref.sync import sync_to_async

    await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="where is my order?"
    )
    stream = reply_stream(conversation_id=conversation.pk)
    events = []
    claimed_at_seq = None
    async for event in stream:
        events.append(event)
        if event.type == "assistant.delta" and claimed_at_seq is None:
            claimed = await sync_to_async(conversation_claim)(
                conversation_id=conversation.pk, agent=agent_user
            )
            claimed_at_seq = claimed.last_seq
    assert claimed_at_seq is not None, "the reply never streamed"
    complete_bot_replies = [
        m
        async for m in Message.objects.filter(
            conversation_id=conversation.pk,
            role=MessageRole.ASSISTANT,
            state=MessageState.COMPLETE,
        ).exclude(text="")  # a tool round before the claim carries calls, not text
    ]
    assert complete_bot_replies == []
    done = [e for e in events if e.type == "assistant.done"]
    assert not done or done[-1].state != MessageState.COMPLETE
    conversation_now = await type(conversation).objects.aget(pk=conversation.pk)
    assert conversation_now.status == ConversationStatus.AGENT


@pytest.mark.django_db(transaction=True)
async def test_bot_stays_silent_while_an_agent_owns_the_conversation(conversation, agent_user):
    from asgiref.sync import sync_to_async

    await sync_to_async(handoff_request)(conversation_id=conversation.pk)
    await sync_to_async(conversation_claim)(conversation_id=conversation.pk, agent=agent_user)
    events = [event async for event in reply_stream(conversation_id=conversation.pk)]
    assert not any(e.type == "assistant.delta" for e in events)
    assert not await Message.objects.filter(
        conversation_id=conversation.pk, role=MessageRole.ASSISTANT, state=MessageState.COMPLETE
    ).aexists()
