"""Keeping only what we may: per-bot retention (anonymise or delete) and erasure on request."""

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from conversations.edge.identity import resume_token_hash
from conversations.models import (
    Attachment,
    Bot,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    ReplyDraft,
    RetentionAction,
    ToolRun,
)

logger = logging.getLogger(__name__)
CHUNK = 500


@dataclass(frozen=True, slots=True)
class Erased:
    customers: int
    conversations: int
    messages: int
    attachments: int


def _attachment_files_delete(attachments: Iterable[Attachment]) -> int:
    n = 0
    for attachment in attachments:
        if attachment.file:
            attachment.file.delete(save=False)
        n += 1
    return n


def conversations_anonymise(*, conversation_ids: list[Any]) -> int:
    """Strip personal data, keep the figures (counts, tokens, cost, topic, ratings)."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Conversation.objects.select_for_update()
            .filter(pk__in=conversation_ids, anonymised_at__isnull=True)
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        attachments = Attachment.objects.filter(conversation_id__in=ids)
        _attachment_files_delete(attachments)
        attachments.delete()
        Message.objects.filter(conversation_id__in=ids).update(
            text="", data={}, tool_calls=[], sources=[], client_id=None, tokens=None
        )
        ToolRun.objects.filter(conversation_id__in=ids).update(arguments={}, result=None, error="")
        ReplyDraft.objects.filter(conversation_id__in=ids).update(text="")
        for pk in ids:
            # A fresh random hash: the customer's old resume token opens nothing any more.
            Conversation.objects.filter(pk=pk).update(
                title="",
                summary="",
                csat_comment="",
                flag_note="",
                client_key="",
                anonymised_at=now,
                resume_token_hash=resume_token_hash(secrets.token_urlsafe(32)),
            )
        # Customers with nothing left but anonymised conversations lose their identity too.
        live = Conversation.objects.filter(customer=OuterRef("pk"), anonymised_at__isnull=True)
        customers = Customer.objects.filter(conversations__pk__in=ids).filter(~Exists(live))
        for customer in customers.distinct():
            customer.email = ""
            customer.name = ""
            customer.external_id = ""
            customer.verified_at = None
            customer.verified_by = ""
            customer.visitor_id = "anonymised-" + secrets.token_hex(12)
            customer.save(
                update_fields=[
                    "email",
                    "name",
                    "external_id",
                    "verified_at",
                    "verified_by",
                    "visitor_id",
                ]
            )
    return len(ids)


def conversations_delete(*, conversation_ids: list[Any]) -> int:
    """Delete conversations with their messages, tool runs and image files."""
    with transaction.atomic():
        _attachment_files_delete(Attachment.objects.filter(conversation_id__in=conversation_ids))
        _, per_model = Conversation.objects.filter(pk__in=conversation_ids).delete()
    return per_model.get("conversations.Conversation", 0)


def retention_due(*, bot: Bot, now: datetime) -> list[Any]:
    """One chunk of the bot's conversations past its retention period (open ones wait)."""
    if not bot.retention_days:
        return []
    cutoff = now - timedelta(days=bot.retention_days)
    old = Conversation.objects.filter(bot=bot, created_at__lt=cutoff).exclude(
        status__in=[ConversationStatus.WAITING, ConversationStatus.AGENT]
    )
    if bot.retention_action == RetentionAction.ANONYMISE:
        old = old.filter(anonymised_at__isnull=True)
    return list(old.order_by("created_at").values_list("pk", flat=True)[:CHUNK])


def retention_apply(*, now: datetime | None = None) -> dict[str, int]:
    """Apply every bot's retention setting; returns {bot slug: conversations changed}."""
    now = now or timezone.now()
    changed: dict[str, int] = {}
    for bot in Bot.objects.filter(retention_days__isnull=False):
        total = 0
        while ids := retention_due(bot=bot, now=now):
            if bot.retention_action == RetentionAction.DELETE:
                total += conversations_delete(conversation_ids=ids)
            else:
                total += conversations_anonymise(conversation_ids=ids)
        if total:
            logger.info("retention: %s %d conversation(s) of %s", bot.retention_action, total, bot)
        changed[bot.slug] = total
    return changed


def customer_erase(
    *, email: str = "", visitor_id: str = "", bot_slug: str = "", dry_run: bool = False
) -> Erased:
    """Delete a customer's conversations, messages, images and identity (right to erasure)."""
    if not (email or visitor_id):
        raise ValueError("Give an email or a visitor id.")
    customers = Customer.objects.all()
    match = Q()
    if email:
        match |= Q(email__iexact=email.strip())
    if visitor_id:
        match |= Q(visitor_id=visitor_id.strip())
    customers = customers.filter(match)
    if bot_slug:
        customers = customers.filter(bot__slug=bot_slug)
    with transaction.atomic():
        ids = list(customers.values_list("pk", flat=True))
        conversations = Conversation.objects.filter(customer_id__in=ids)
        result = Erased(
            customers=len(ids),
            conversations=conversations.count(),
            messages=Message.objects.filter(conversation__customer_id__in=ids).count(),
            attachments=Attachment.objects.filter(conversation__customer_id__in=ids).count(),
        )
        if not dry_run:
            _attachment_files_delete(Attachment.objects.filter(conversation__customer_id__in=ids))
            Customer.objects.filter(pk__in=ids).delete()
    return result
