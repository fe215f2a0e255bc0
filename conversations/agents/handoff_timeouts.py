"""Hand-offs nobody claims in time (or outside opening hours): tell the customer, ask an email."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from conversations.agents.hours import agents_at_work
from conversations.agents.queue import UNANSWERED_EVENT
from conversations.domain.events import MessageCreated
from conversations.domain.messages import message_append, message_serialize
from conversations.domain.realtime import agent_queue_changed_on_commit, event_publish_on_commit
from conversations.models import Conversation, ConversationStatus, Message, MessageRole

TEXTS = {
    "timeout": (
        "Sorry, none of our agents is free right now. Leave your email address and we will "
        "answer you there as soon as we can."
    ),
    "after_hours": (
        "Our agents are away at the moment. Leave your email address and we will answer you "
        "there when we are back."
    ),
}


def handoffs_unanswered_due(*, now: datetime | None = None) -> list[tuple[Any, str]]:
    """Waiting conversations whose customer should now be told: (id, reason) pairs."""
    now = now or timezone.now()
    told = Message.objects.filter(
        conversation=OuterRef("pk"),
        event=UNANSWERED_EVENT,
        created_at__gte=OuterRef("handoff_requested_at"),
    )
    waiting = Conversation.objects.filter(
        status=ConversationStatus.WAITING, handoff_requested_at__isnull=False
    ).filter(~Exists(told))
    if not agents_at_work(now=now):
        return [(pk, "after_hours") for pk in waiting.values_list("pk", flat=True)]
    cutoff = now - timedelta(seconds=settings.SUPPORTBOT_HANDOFF_TIMEOUT)
    overdue = waiting.filter(handoff_requested_at__lte=cutoff)
    return [(pk, "timeout") for pk in overdue.values_list("pk", flat=True)]


def handoff_unanswered_notify(*, conversation_id: Any, reason: str) -> Message | None:
    """Tell a still-waiting customer that nobody can answer now; once per hand-off."""
    if reason not in TEXTS:
        raise ValueError(f"Unknown reason {reason!r}.")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if conversation.status != ConversationStatus.WAITING:
            return None
        if conversation.messages.filter(
            event=UNANSWERED_EVENT, created_at__gte=conversation.handoff_requested_at
        ).exists():
            return None
        message, _ = message_append(
            conversation_id=conversation_id,
            role=MessageRole.EVENT,
            event=UNANSWERED_EVENT,
            text=TEXTS[reason],
            data={"reason": reason, "ask_email": True},
        )
        event_publish_on_commit(
            conversation_id=conversation_id,
            event=MessageCreated(message=message_serialize(message)),
        )
        agent_queue_changed_on_commit()
    return message


def handoffs_unanswered_notify_due(*, now: datetime | None = None) -> int:
    """The scheduled sweep: notify every conversation that is due; returns how many."""
    notified = 0
    for conversation_id, reason in handoffs_unanswered_due(now=now):
        if handoff_unanswered_notify(conversation_id=conversation_id, reason=reason):
            notified += 1
    return notified
