"""The queue of conversations waiting for a human, and those agents are answering now."""

from datetime import datetime
from typing import Any

from django.db.models import Case, Exists, F, OuterRef, Subquery, When
from django.utils import timezone

from conversations.agents.access import agent_name
from conversations.models import Conversation, ConversationStatus, Message, MessageRole

UNANSWERED_EVENT = "handoff_unanswered"


def agent_queue(*, limit: int = 200, now: datetime | None = None) -> list[dict[str, Any]]:
    """Waiting conversations (oldest first), then those an agent owns; one query."""
    now = now or timezone.now()
    last_customer_text = Message.objects.filter(
        conversation=OuterRef("pk"), role=MessageRole.CUSTOMER
    ).order_by("-seq")
    customer_told = Message.objects.filter(
        conversation=OuterRef("pk"),
        event=UNANSWERED_EVENT,
        created_at__gte=OuterRef("handoff_requested_at"),
    )
    rows = (
        Conversation.objects.filter(
            status__in=[ConversationStatus.WAITING, ConversationStatus.AGENT]
        )
        .select_related("bot", "customer", "assigned_agent__agent_profile")
        .annotate(
            last_customer_text=Subquery(last_customer_text.values("text")[:1]),
            customer_told=Exists(customer_told),
        )
        .order_by(
            Case(When(status=ConversationStatus.WAITING, then=0), default=1),
            F("handoff_requested_at").asc(nulls_last=True),
            "created_at",
        )[:limit]
    )
    return [_queue_entry(conversation, now=now) for conversation in rows]


def _queue_entry(conversation: Conversation, *, now: datetime) -> dict[str, Any]:
    since = conversation.handoff_requested_at or conversation.created_at
    return {
        "id": str(conversation.pk),
        "status": conversation.status,
        "bot": conversation.bot.name,
        "customer": str(conversation.customer),
        "title": conversation.title,
        "last_customer_text": (conversation.last_customer_text or "")[:200],
        "waiting_since": since.isoformat(),
        "waited_seconds": max(0, int((now - since).total_seconds())),
        "agent": agent_name(conversation.assigned_agent),
        "customer_told": conversation.customer_told,
    }
