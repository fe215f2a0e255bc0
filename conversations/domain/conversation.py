"""Starting and resuming conversations, and the customers they belong to."""

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from conversations.domain.webhooks import webhook_emit
from conversations.edge.identity import (
    SignatureCheck,
    identity_signature_check,
    resume_token_hash,
    resume_token_new,
)
from conversations.models import (
    ApiKey,
    Bot,
    Conversation,
    Customer,
    VerifiedBy,
    WebhookEvent,
)

# Customers the host site signed for live under these visitor ids; no client may choose one.
VERIFIED_NAMESPACES = {VerifiedBy.EXTERNAL_ID: "ext:", VerifiedBy.EMAIL: "email:"}


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

    @property
    def signed_field(self) -> str:
        return VerifiedBy.EXTERNAL_ID if self.external_id else VerifiedBy.EMAIL


def visitor_id_reserved(visitor_id: str) -> bool:
    """A visitor id in a verified customer's namespace (any case): never the client's choice."""
    lowered = visitor_id.lower()
    return any(lowered.startswith(prefix) for prefix in VERIFIED_NAMESPACES.values())


def identity_signature_status(*, bot: Bot, identity: Identity | None) -> SignatureCheck:
    """Whether this request's signature proves its signed value now, under the bot's rules."""
    if identity is None:
        return SignatureCheck.MISSING
    return identity_signature_check(
        secret=bot.identity_secret,
        value=identity.signed_value,
        signature=identity.signature,
        now=timezone.now().timestamp(),
        max_ttl=settings.SUPPORTBOT_IDENTITY_SIGNATURE_MAX_TTL,
        require_expiry=bot.identity_signatures_expire,
    )


def identity_verified_field(*, bot: Bot, identity: Identity | None) -> str:
    """The field whose value the host's signature proves in this request ("" if none holds)."""
    if identity_signature_status(bot=bot, identity=identity) != SignatureCheck.VALID:
        return VerifiedBy.NOTHING
    return identity.signed_field


def _verified_visitor_id(field: str, value: str) -> str:
    """The server-made visitor id of a signed identity; long values are hashed to fit."""
    prefix = VERIFIED_NAMESPACES[field]
    key = value.lower() if field == VerifiedBy.EMAIL else value
    if len(prefix) + len(key) <= 64:
        return prefix + key
    return f"{prefix}sha256:{hashlib.sha256(key.encode()).hexdigest()}"[:64]


def customer_identify(*, bot: Bot, visitor_id: str, identity: Identity | None = None) -> Customer:
    """The customer this request speaks for.

    With the host's valid signature in this request: the signed identity's own record, kept
    under a server-made id, verified for the signed value only. Otherwise the anonymous
    visitor's record, which is never verified whatever it claims. So a verified customer is
    reached only by presenting the signature, never by knowing or planting a visitor id.
    """
    identity = identity or Identity()
    field = identity_verified_field(bot=bot, identity=identity)
    if field:
        key = _verified_visitor_id(field, identity.signed_value)
    elif visitor_id_reserved(visitor_id):
        raise ValueError("This visitor id is reserved for verified customers.")
    else:
        key = visitor_id
    with transaction.atomic():
        customer, _ = Customer.objects.select_for_update().get_or_create(bot=bot, visitor_id=key)
        changed: list[str] = []

        def put(name: str, value: str) -> None:
            if getattr(customer, name) != value:
                setattr(customer, name, value)
                changed.append(name)

        if field:
            put(field, identity.signed_value)
            put("verified_by", field)
            if customer.verified_at is None:
                customer.verified_at = timezone.now()
                changed.append("verified_at")
        if identity.email and field != VerifiedBy.EMAIL and not customer.verified_email:
            put("email", identity.email)  # a claim, shown as unverified
        if identity.name:
            put("name", identity.name)
        if changed:
            customer.save(update_fields=changed)
    return customer


def conversation_start(
    *,
    bot: Bot,
    customer: Customer,
    verified: bool = False,
    api_key: ApiKey | None = None,
    client_key: str = "",
) -> tuple[Conversation, str]:
    """A new conversation and its resume token (shown once; only its hash is stored).

    `verified`: the caller checked the host's signature for this customer in this request.
    `client_key` is conversations.tools.access.client_key() of the caller's address, when the
    caller is the customer's own browser.
    """
    if customer.bot_id != bot.pk:
        raise ValueError("The customer belongs to another bot.")
    if api_key is not None and api_key.bot_id != bot.pk:
        raise ValueError("The API key belongs to another bot.")
    if verified and not customer.is_verified:
        raise ValueError("Only a verified customer's conversation can be verified.")
    token, token_hash = resume_token_new()
    with transaction.atomic():
        conversation = Conversation.objects.create(
            bot=bot,
            customer=customer,
            resume_token_hash=token_hash,
            verified_at=timezone.now() if verified else None,
            api_key=api_key,
            client_key=client_key,
        )
        webhook_emit(
            event=WebhookEvent.CONVERSATION_CREATED,
            bot_id=bot.pk,
            data=lambda: conversation_payload(conversation),
        )
    return conversation, token


def conversation_open(
    *,
    bot: Bot,
    visitor_id: str,
    identity: Identity | None = None,
    api_key: ApiKey | None = None,
    client_key: str = "",
) -> tuple[Conversation, str]:
    """A new conversation for whoever this request proves (signature) or claims to be."""
    customer = customer_identify(bot=bot, visitor_id=visitor_id, identity=identity)
    # customer_identify returns a verified customer only when the signature held just now.
    return conversation_start(
        bot=bot,
        customer=customer,
        verified=customer.is_verified,
        api_key=api_key,
        client_key=client_key,
    )


def session_open(
    *,
    bot: Bot,
    visitor_id: str,
    identity: Identity | None,
    conversation_id: str | None = None,
    token: str | None = None,
    client_key: str = "",
) -> tuple[Conversation, str, bool]:
    """The widget's conversation for this request: (conversation, token, resumed).

    The stored conversation resumes only for the same customer as this request proves or
    claims, verified exactly as this request is: signing in, logging out on the host page or
    switching users starts a new conversation, so nobody inherits another's messages or orders.
    """
    customer = customer_identify(bot=bot, visitor_id=visitor_id, identity=identity)
    if conversation_id and token:
        try:
            conversation = conversation_for_token(conversation_id=conversation_id, token=token)
        except (ValueError, TypeError, ValidationError):
            conversation = None
        if (
            conversation is not None
            and conversation.bot_id == bot.pk
            and conversation.customer_id == customer.pk
            and conversation.identity_verified == customer.is_verified
        ):
            return conversation, token, True
    conversation, token = conversation_start(
        bot=bot, customer=customer, verified=customer.is_verified, client_key=client_key
    )
    return conversation, token, False


def conversation_for_token(*, conversation_id: str, token: str) -> Conversation | None:
    """The conversation that this resume token opens, or None (a wrong id and token look alike)."""
    if not token:
        return None
    return (
        Conversation.objects.select_related("bot", "customer")
        .filter(pk=conversation_id, resume_token_hash=resume_token_hash(token), bot__is_active=True)
        .first()
    )


def customer_serialize(customer: Customer | None, *, verified: bool) -> dict[str, Any] | None:
    """The public shape of a customer, the same for the API and webhooks.

    `verified`: the conversation it is shown with presented the host's signature
    (Conversation.identity_verified); `verified_by` names the one signed field.
    """
    if customer is None:
        return None
    verified = verified and customer.is_verified
    return {
        "email": customer.email,
        "external_id": customer.external_id,
        "name": customer.name,
        "verified": verified,
        "verified_by": customer.verified_by if verified else "",
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
            "customer": customer_serialize(
                getattr(conversation, "customer", None), verified=conversation.identity_verified
            ),
        }
    }
