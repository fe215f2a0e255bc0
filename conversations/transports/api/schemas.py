"""Request and response bodies of the API (pydantic, via Django Ninja): the OpenAPI source."""

import uuid
from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field, StrictBool, field_validator, model_validator

from conversations.domain.conversation import visitor_id_reserved
from conversations.domain.text import text_problem

VISITOR_PATTERN = r"^[A-Za-z0-9._:@-]{1,64}$"


class In(Schema):
    """A request body or query: a JSON object whose text holds no NUL character and no lone
    surrogate (PostgreSQL stores neither; such input answers 422)."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        # A JSON list, string or number is not this object, whatever its fields' defaults.
        if isinstance(data, list | tuple | str | bytes | int | float | bool) or data is None:
            raise ValueError("the body must be a JSON object")
        return data

    @model_validator(mode="after")
    def _storable_text(self) -> "In":
        problem = text_problem(self.model_dump())
        if problem:
            raise ValueError(problem)
        return self


class CustomerIn(In):
    """What the host knows about the customer; trusted only with a valid signature."""

    email: str = Field("", max_length=254, description="The customer's email.")
    external_id: str = Field("", max_length=128, description="The host's own customer id.")
    name: str = Field("", max_length=200)
    signature: str = Field(
        "",
        max_length=128,
        pattern=r"^([0-9]{1,12}\.)?[0-9a-fA-F]*$",
        description="Hex HMAC-SHA256 of external_id (or, without one, of email) keyed with the "
        "bot's identity secret, or the expiring form `<expires>.<hex>` (docs/api.md, Signed "
        "identities). Only the signed value is verified; a wrong signature is refused (422 "
        "invalid_signature, or signature_expired); without one the identity is an unverified "
        "claim.",
    )


class CustomerOut(Schema):
    email: str
    external_id: str
    name: str
    verified: bool = Field(
        description="This conversation was started with the host's valid signature."
    )
    verified_by: str = Field(
        description="The signed field, external_id or email; the other fields are unverified "
        "claims. Empty when not verified."
    )


class ConversationCreateIn(In):
    visitor_id: str | None = Field(
        None,
        pattern=VISITOR_PATTERN,
        description="A stable id for an anonymous visitor; omitted, a new random id is used. "
        "Never makes anybody verified (only a signature does); ids starting `ext:` or `email:` "
        "are reserved.",
    )
    customer: CustomerIn | None = None

    @field_validator("visitor_id")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        if value is not None and visitor_id_reserved(value):
            raise ValueError("visitor ids starting ext: or email: are reserved")
        return value


class ConversationOut(Schema):
    id: uuid.UUID
    status: str = Field(description="bot, waiting, agent or closed.")
    owner: str = Field(description="Who answers now: bot, agent or nobody.")
    title: str
    customer: CustomerOut
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None
    handoff_requested_at: datetime | None
    closed_at: datetime | None
    csat_rating: int | None
    csat_comment: str


class ConversationCreatedOut(ConversationOut):
    resume_token: str = Field(
        description="Lets a browser widget resume this conversation. Shown once; keep it."
    )


class ConversationPage(Schema):
    items: list[ConversationOut]
    total: int
    next_offset: int | None


class AttachmentOut(Schema):
    id: uuid.UUID
    content_type: str
    width: int | None
    height: int | None


class MessageOut(Schema):
    id: int
    seq: int
    role: str = Field(description="customer, assistant, agent or event.")
    text: str
    state: str
    client_id: str | None
    event: str
    data: dict[str, Any]
    sources: list[Any]
    agent_name: str
    attachments: list[AttachmentOut]
    created_at: datetime


class MessagePage(Schema):
    items: list[MessageOut]
    next_after_seq: int | None = Field(description="Pass as after_seq for the next page.")


class MessageIn(In):
    text: str = Field(
        "",
        description="The customer's text, at most SUPPORTBOT_MAX_MESSAGE_CHARS characters "
        "(the session's limits say how many; longer is refused with `too_long`).",
    )
    client_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="Your id for this message: sending it again does not store it twice.",
    )
    attachment_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=4, description="Images uploaded to this conversation."
    )
    stream: StrictBool = Field(
        False,
        description="Answer as Server-Sent Events (same as sending Accept: text/event-stream).",
    )


class ReplyOut(Schema):
    message: MessageOut = Field(description="The customer's message as stored.")
    duplicate: bool = Field(description="True when client_id was already stored.")
    reply: MessageOut | None = Field(description="The bot's reply, when the bot answers.")
    status: str = Field(description="The conversation's status afterwards.")


class RatingIn(In):
    rating: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)


class ActionDecisionIn(In):
    decision: Literal["confirm", "decline"] = Field(
        description="The customer's answer to the confirm card."
    )


class ActionOut(Schema):
    action_id: str = Field(description="The one-time id from the `action.proposed` event.")
    action: str = Field(description="cancel_order or start_return.")
    order_number: str
    details: dict[str, Any]
    status: str = Field(
        description="proposed, confirmed, done, declined, refused, failed or expired."
    )
    order: dict[str, Any] | None = Field(None, description="The order as it is now.")
    message: str = ""


class ActionDecisionOut(Schema):
    action: ActionOut
    reply: MessageOut | None = Field(description="The bot's answer to the decision, if any.")


class HandoffIn(In):
    summary: str = Field("", max_length=1000, description="Why a human is needed.")


class FaqIn(In):
    question: str = Field(min_length=1, max_length=300)
    answer: str = Field(min_length=1, max_length=20_000)
    alternatives: list[str] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=50)
    is_published: StrictBool = True


class FaqPatchIn(In):
    question: str | None = Field(None, min_length=1, max_length=300)
    answer: str | None = Field(None, min_length=1, max_length=20_000)
    alternatives: list[str] | None = Field(None, max_length=50)
    tags: list[str] | None = Field(None, max_length=50)
    is_published: StrictBool | None = None


class FaqOut(Schema):
    id: int
    question: str
    answer: str
    alternatives: list[str]
    tags: list[str]
    is_published: bool
    created_at: datetime
    updated_at: datetime


class FaqPage(Schema):
    items: list[FaqOut]
    total: int
    next_offset: int | None


class FaqImportIn(In):
    entries: list[FaqIn] = Field(max_length=5000)
    replace: StrictBool = Field(False, description="Delete the entries not in this import.")
    dry_run: StrictBool = Field(False, description="Check and count, store nothing.")


class ImportOut(Schema):
    created: int
    updated: int
    deleted: int = 0
    details: dict[str, Any] = Field(default_factory=dict)
