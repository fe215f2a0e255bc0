"""Starting and resuming conversations, and the customers they belong to."""

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.domain.webhooks import webhook_emit
from conversations.edge.identity import (
    identity_signature_valid,
    resume_token_hash,
    resume_token_new,
)
from conversations.models import Bot, Conversation, Customer, WebhookEvent


@dataclass(frozen=True, slots=True)
class Identity:
    """What the host site says about a customer; trusted only with a valid signature."""

    email: str = ""
    external_id: str = ""
    name: str = ""
    signature: str = ""

    @property
    def signed_value(self) -> str:
        return self.external_id or self.email


def customer_identify(*, bot: Bot, visitor_id: str, identity: Identity | None = None) -> Customer:
    """The customer behind a visitor id, upgraded to verified when the host's signature holds."""
    identity = identity or Identity()
    verified = identity_signature_valid(
        secret=bot.identity_secret, value=identity.signed_value, signature=identity.signature
    )
    with transaction.atomic():
        customer, _ = Customer.objects.select_for_update().get_or_create(
            bot=bot, visitor_id=visitor_id
        )
        changed: list[str] = []
        if verified:
            # A signed identity replaces whatever the visitor claimed before.
            for field_name in ("email", "external_id"):
                value = getattr(identity, field_name)
                if getattr(customer, field_name) != value:
                    setattr(customer, field_name, value)
                    changed.append(field_name)
            if customer.verified_at is None:
                customer.verified_at = timezone.now()
                changed.append("verified_at")
        elif identity.email and not customer.is_verified and customer.email != identity.email:
            customer.email = identity.email
            changed.append("email")
        if identity.name and customer.name != identity.name:
            customer.name = identity.name
            changed.append("name")
        if changed:
            customer.save(update_fields=changed)
    return customer


def conversation_start(
    *, bot: Bot, customer: Customer, client_key: str = ""
) -> tuple[Conversation, str]:
    """A new conversation and its resume token (shown once; only its hash is stored).

    `client_key` is conversations.tools.access.client_key() of the caller's address, when the
    caller is the customer's own browser.
    """
    if customer.bot_id != bot.pk:
        raise ValueError("The customer belongs to another bot.")
    token, token_hash = resume_token_new()
    with transaction.atomic():
        conversation = Conversation.objects.create(
            bot=bot, customer=customer, resume_token_hash=token_hash, client_key=client_key
        )
        webhook_emit(
            event=WebhookEvent.CONVERSATION_CREATED,
            bot_id=bot.pk,
            data=lambda: conversation_payload(conversation),
        )
    return conversation, token


def conversation_for_token(*, conversation_id: str, token: str) -> Conversation | None:
    """The conversation that this resume token opens, or None (a wrong id and token look alike)."""
    if not token:
        return None
    return (
        Conversation.objects.select_related("bot", "customer")
        .filter(pk=conversation_id, resume_token_hash=resume_token_hash(token), bot__is_active=True)
        .first()
    )


def customer_serialize(customer: Customer | None) -> dict[str, Any] | None:
    """The public shape of a customer, the same for the API and webhooks."""
    if customer is None:
        return None
    return {
        "email": customer.email,
        "external_id": customer.external_id,
        "name": customer.name,
        "verified": customer.is_verified,
    }


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    """A conversation as webhooks carry it."""
    return {
        "conversation": {
            "id": str(conversation.pk),
            "status": conversation.status,
            "created_at": conversation.created_at,
            "closed_at": conversation.closed_at,
            "csat_rating": conversation.csat_rating,
            "customer": customer_serialize(getattr(conversation, "customer", None)),
        }
    }
