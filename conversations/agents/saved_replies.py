"""Saved replies for a conversation: found by shortcut or title, placeholders filled in."""

from typing import Any

from django.db.models import Q

from conversations.agents.access import agent_name
from conversations.agents.customer_panel import customer_orders
from conversations.models import Conversation, SavedReply
from conversations.tools.connectors import OrderSourceError

PLACEHOLDERS = ("{customer_name}", "{order_number}", "{agent_name}")
SHOWN = 20


def placeholders_for(*, conversation: Conversation, agent: Any, text: str) -> dict[str, str]:
    """Values for the placeholders the text uses (the order source is asked only if needed)."""
    values = {
        "{customer_name}": conversation.customer.name.strip() or "there",
        "{agent_name}": agent_name(agent),
    }
    if "{order_number}" in text:
        try:
            orders = customer_orders(conversation_id=conversation.pk)
        except OrderSourceError:
            orders = []
        values["{order_number}"] = orders[0].record.number if orders else "{order_number}"
    return values


def saved_reply_fill(*, text: str, values: dict[str, str]) -> str:
    # Plain replacement, not str.format: a reply may hold other braces, and no attribute
    # lookups may hide in a placeholder.
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def saved_replies_search(
    *, conversation_id: Any, agent: Any, query: str = ""
) -> list[dict[str, str]]:
    """The saved replies for this conversation's bot that match, filled in for it."""
    conversation = Conversation.objects.select_related("customer").get(pk=conversation_id)
    replies = SavedReply.objects.filter(Q(bot__isnull=True) | Q(bot_id=conversation.bot_id))
    query = query.strip().lstrip("/")
    if query:
        replies = replies.filter(
            Q(shortcut__istartswith=query) | Q(title__icontains=query) | Q(text__icontains=query)
        )
    found = list(replies.order_by("shortcut")[:SHOWN])
    if not found:
        return []
    values = placeholders_for(
        conversation=conversation, agent=agent, text="".join(r.text for r in found)
    )
    return [
        {
            "shortcut": reply.shortcut,
            "title": reply.title,
            "text": saved_reply_fill(text=reply.text, values=values),
        }
        for reply in found
    ]
