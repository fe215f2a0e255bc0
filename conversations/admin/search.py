"""Searching transcripts: word search over message text (a GIN index on PostgreSQL)."""

import re

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import BooleanField, Exists, F, Func, OuterRef, QuerySet, Subquery, Value
from django.utils.functional import cached_property

from conversations.models import Customer, Message

COUNT_CAP = 10_000


class TextMatches(Func):
    """PostgreSQL: `to_tsvector('simple', text) @@ to_tsquery('simple', query)`.

    The left side is exactly the expression of the `message_text_search` GIN index.
    """

    template = "to_tsvector('simple'::regconfig, %(expressions)s)"
    arg_joiner = ") @@ to_tsquery('simple'::regconfig, "
    output_field = BooleanField()


def _prefix_query(term: str) -> str:
    """Every word must appear, each as a word prefix: "kett refu" -> "kett:* & refu:*"."""
    return " & ".join(f"{word}:*" for word in re.findall(r"\w+", term.lower())[:8])


def conversations_search(queryset: QuerySet, term: str) -> QuerySet:
    """A term with "@" searches customer emails; anything else the words of the messages.

    Each side is one uncorrelated subquery (a hash the planner builds once), so the newest
    matches come straight off the created_at index without a join per row.
    """
    term = term.strip()
    if not term:
        return queryset
    if "@" in term:
        customers = Customer.objects.filter(email__icontains=term).order_by().values("pk")
        return queryset.filter(customer_id__in=Subquery(customers))
    words = _prefix_query(term)
    if connection.vendor == "postgresql" and words:
        messages = Message.objects.filter(TextMatches(F("text"), Value(words)))
        return queryset.filter(pk__in=Subquery(messages.order_by().values("conversation_id")))
    messages = Message.objects.filter(conversation=OuterRef("pk"), text__icontains=term)
    return queryset.filter(Exists(messages))


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows: an exact COUNT(*) over a big filtered table is slow."""

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.cap].count()
