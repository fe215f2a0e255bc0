"""Who answers a conversation: handing off to a human, claiming, handing back, closing, rating.

Every change is a row first (the conversation's status and an event message in its transcript)
and is published to the conversation's sockets only after the transaction commits.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from conversations.agents.access import agent_name
from conversations.domain.conversation import conversation_payload
from conversations.domain.errors import DomainError
from conversations.domain.events import MessageCreated, StatusChanged
from conversations.domain.messages import message_append, message_serialize
from conversations.domain.realtime import agent_queue_changed_on_commit, event_publish_on_commit
from conversations.domain.webhooks import webhook_emit
from conversations.knowledge.learning import faq_draft_queue
from conversations.models import Conversation, ConversationStatus, MessageRole, WebhookEvent

# --- Who may write to a conversation: the ownership rules, in one place.


def bot_may_write(status: str, *, allow_waiting: bool) -> bool:
    """The bot writes while it owns the conversation; after its own handoff it may finish."""
    return status == ConversationStatus.BOT or (
        allow_waiting and status == ConversationStatus.WAITING
    )


def bot_writable_statuses(*, allow_waiting: bool) -> list[str]:
    """bot_may_write as a list, for a query that writes only while the bot may."""
    return [ConversationStatus.BOT] + ([ConversationStatus.WAITING] if allow_waiting else [])


def agent_write_check(*, conversation: Conversation, agent: AbstractBaseUser) -> None:
    """Only the agent who took the conversation over writes in it; raises DomainError."""
    if conversation.status == ConversationStatus.CLOSED:
        raise DomainError("closed", "This conversation is closed.")
    if (
        conversation.status != ConversationStatus.AGENT
        or conversation.assigned_agent_id != agent.pk
    ):
        raise DomainError("not_owner", "Take the conversation over before replying.")


def agent_claim_check(*, conversation: Conversation, agent: AbstractBaseUser) -> None:
    """An agent may take over unless it is closed or another agent holds it."""
    if conversation.status == ConversationStatus.CLOSED:
        raise DomainError("closed", "This conversation is closed.")
    if conversation.status == ConversationStatus.AGENT and conversation.assigned_agent_id not in (
        None,
        agent.pk,
    ):
        raise DomainError("taken", "Another agent has already taken this conversation.")


def _agent_name(agent: AbstractBaseUser | None) -> str:
    return agent_name(agent)


def _record(*, conversation: Conversation, event: str, data: dict[str, Any], agent=None) -> None:
    message, _ = message_append(
        conversation_id=conversation.pk, role=MessageRole.EVENT, event=event, data=data
    )
    event_publish_on_commit(
        conversation_id=conversation.pk, event=MessageCreated(message=message_serialize(message))
    )
    event_publish_on_commit(
        conversation_id=conversation.pk,
        event=StatusChanged(status=conversation.status, agent_name=_agent_name(agent)),
    )
    if event != "rated":
        agent_queue_changed_on_commit()


def _webhook(conversation: Conversation, event: str, **extra: Any) -> None:
    webhook_emit(
        event=event,
        bot_id=conversation.bot_id,
        data=lambda: {**conversation_payload(conversation), **extra},
    )


def _locked(conversation_id: Any) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation_id)


def handoff_request(
    *, conversation_id: Any, summary: str = "", requested_by: str = "customer"
) -> Conversation:
    """Ask for a human: the bot falls silent until an agent claims or hands back."""
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.status == ConversationStatus.CLOSED:
            raise DomainError("closed", "This conversation is closed.")
        if conversation.status in (ConversationStatus.WAITING, ConversationStatus.AGENT):
            return conversation
        conversation.status = ConversationStatus.WAITING
        conversation.handoff_requested_at = timezone.now()
        conversation.save(update_fields=["status", "handoff_requested_at", "updated_at"])
        _record(
            conversation=conversation,
            event="handoff_requested",
            data={"summary": summary[:1000], "requested_by": requested_by},
        )
        _webhook(
            conversation,
            WebhookEvent.HANDOFF_REQUESTED,
            summary=summary[:1000],
            requested_by=requested_by,
        )
    return conversation


def conversation_claim(*, conversation_id: Any, agent: AbstractBaseUser) -> Conversation:
    """An agent takes the conversation over; from now on the bot stays silent."""
    with transaction.atomic():
        conversation = _locked(conversation_id)
        agent_claim_check(conversation=conversation, agent=agent)
        conversation.status = ConversationStatus.AGENT
        conversation.assigned_agent = agent
        conversation.save(update_fields=["status", "assigned_agent", "updated_at"])
        _record(
            conversation=conversation,
            event="agent_joined",
            data={"agent": _agent_name(agent)},
            agent=agent,
        )
    return conversation


def conversation_release(
    *, conversation_id: Any, agent: AbstractBaseUser | None = None
) -> Conversation:
    """Hand the conversation back to the bot."""
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.status == ConversationStatus.CLOSED:
            raise DomainError("closed", "This conversation is closed.")
        conversation.status = ConversationStatus.BOT
        conversation.assigned_agent = None
        conversation.save(update_fields=["status", "assigned_agent", "updated_at"])
        _record(conversation=conversation, event="bot_resumed", data={"agent": _agent_name(agent)})
    return conversation


def conversation_close(
    *, conversation_id: Any, closed_by: str = "agent", agent=None
) -> Conversation:
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.status == ConversationStatus.CLOSED:
            return conversation
        conversation.status = ConversationStatus.CLOSED
        conversation.closed_at = timezone.now()
        conversation.save(update_fields=["status", "closed_at", "updated_at"])
        _record(
            conversation=conversation, event="closed", data={"closed_by": closed_by}, agent=agent
        )
        _webhook(conversation, WebhookEvent.CONVERSATION_CLOSED, closed_by=closed_by)
        faq_draft_queue(conversation=conversation, closed_by=closed_by)
    return conversation


def conversation_rate(*, conversation_id: Any, rating: int, comment: str = "") -> Conversation:
    """The customer's CSAT rating, 1 to 5; rating again replaces the earlier one."""
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise DomainError("invalid_rating", "A rating is a whole number from 1 to 5.")
    with transaction.atomic():
        conversation = _locked(conversation_id)
        conversation.csat_rating = rating
        conversation.csat_comment = comment[:2000]
        conversation.save(update_fields=["csat_rating", "csat_comment", "updated_at"])
        _record(conversation=conversation, event="rated", data={"rating": rating})
        _webhook(conversation, WebhookEvent.RATING_RECEIVED, rating=rating, comment=comment[:2000])
    return conversation
