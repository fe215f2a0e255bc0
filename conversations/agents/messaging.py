"""An agent's message in a conversation: stored in order, then shown to everyone watching."""

from typing import Any

from django.db import transaction

from conversations.agents.access import agent_avatar_url, agent_name
from conversations.domain.events import AgentMessage, MessageCreated
from conversations.domain.messages import message_append, message_serialize, message_text_check
from conversations.domain.realtime import event_publish_on_commit
from conversations.domain.status import agent_write_check
from conversations.models import Conversation, ConversationStatus, Message, MessageRole


def agent_owns(*, conversation_id: Any, agent: Any) -> bool:
    """Whether this agent answers the conversation now."""
    return Conversation.objects.filter(
        pk=conversation_id, status=ConversationStatus.AGENT, assigned_agent_id=agent.pk
    ).exists()


def agent_reply(
    *, conversation_id: Any, agent: Any, text: str, client_id: str | None = None
) -> Message:
    """Store an agent's reply; only the agent who owns the conversation may write.

    The conversation row stays locked until the message is stored, so a claim, hand-back or
    close cannot slip in between the owner check and the write.
    """
    text = (text or "").strip()
    message_text_check(text=text)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update()
            .only("id", "status", "assigned_agent_id")
            .get(pk=conversation_id)
        )
        agent_write_check(conversation=conversation, agent=agent)
        message, created = message_append(
            conversation_id=conversation_id,
            role=MessageRole.AGENT,
            text=text,
            client_id=client_id,
            author=agent,
        )
        if created:
            event_publish_on_commit(
                conversation_id=conversation_id,
                event=AgentMessage(
                    seq=message.seq,
                    message_id=message.pk,
                    text=text,
                    agent_name=agent_name(agent),
                    agent_avatar=agent_avatar_url(agent),
                ),
            )
            event_publish_on_commit(
                conversation_id=conversation_id,
                event=MessageCreated(message=message_serialize(message)),
            )
    return message
