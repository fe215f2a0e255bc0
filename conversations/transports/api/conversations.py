"""Conversations over the API: start, post messages (JSON or SSE), read, list, close, rate."""

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import File, Query, Router, Status
from ninja.files import UploadedFile
from pydantic import Field, field_validator

from conversations.database import database_call
from conversations.domain.attachments import attachment_create
from conversations.domain.conversation import (
    Identity,
    conversation_open,
    customer_serialize,
    identity_signature_status,
)
from conversations.domain.errors import DomainError
from conversations.domain.events import (
    AssistantDone,
    AssistantStarted,
    Event,
    MessageAccepted,
)
from conversations.domain.intake import customer_message_post, reply_events
from conversations.domain.messages import message_serialize
from conversations.domain.status import conversation_close, conversation_rate, handoff_request
from conversations.edge.apikeys import api_key_conversations
from conversations.edge.identity import SignatureCheck
from conversations.models import (
    ApiKey,
    Conversation,
    ConversationStatus,
    Message,
    MessageRole,
    MessageState,
    OrderAction,
    OrderActionStatus,
)
from conversations.tools.actions import order_action_decide, order_action_public
from conversations.transports.api.auth import scope_require
from conversations.transports.api.errors import ApiError, ErrorOut, message_refused_error
from conversations.transports.api.schemas import (
    ActionDecisionIn,
    ActionDecisionOut,
    AttachmentOut,
    ConversationCreatedOut,
    ConversationCreateIn,
    ConversationOut,
    ConversationPage,
    HandoffIn,
    In,
    MessageIn,
    MessagePage,
    RatingIn,
    ReplyOut,
)
from conversations.transports.api.streaming import sse_stream

router = Router(tags=["conversations"])

ERRORS = {
    **{status: ErrorOut for status in (400, 401, 403, 404, 413, 422, 429)},
    503: ErrorOut,  # Redis away: retry after Retry-After
}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
TRANSCRIPT_ROLES = [MessageRole.CUSTOMER, MessageRole.ASSISTANT, MessageRole.AGENT, "event"]


def conversation_out(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "owner": conversation.owner,
        "title": conversation.title,
        "customer": customer_serialize(
            conversation.customer, verified=conversation.identity_verified
        ),
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "last_message_at": conversation.last_message_at,
        "handoff_requested_at": conversation.handoff_requested_at,
        "closed_at": conversation.closed_at,
        "csat_rating": conversation.csat_rating,
        "csat_comment": conversation.csat_comment,
    }


async def _conversation(
    key: ApiKey, conversation_id: uuid.UUID, *, write: bool = False
) -> Conversation:
    """The conversation if this key reaches it (conversations.edge.apikeys decides which)."""
    conversation = (
        await api_key_conversations(key=key)
        .select_related("customer")
        .filter(pk=conversation_id)
        .afirst()
    )
    if conversation is None:
        # Another bot's, or (without `read`) another client's, looks like a missing one.
        raise ApiError("not_found", "No such conversation.", status=404)
    if write and conversation.api_key_id != key.pk:
        raise ApiError(
            "not_this_keys_conversation",
            "This key may read this conversation but only write to those it started.",
            status=403,
        )
    return conversation


# Why a signature sent with a new conversation is refused: (error code, what is wrong with it).
SIGNATURE_PROBLEMS = {
    SignatureCheck.INVALID: ("invalid_signature", "does not match"),
    SignatureCheck.EXPIRED: ("signature_expired", "has expired: sign the identity again"),
    SignatureCheck.TOO_LONG: (
        "invalid_signature",
        "expires further ahead than SUPPORTBOT_IDENTITY_SIGNATURE_MAX_TTL allows",
    ),
    SignatureCheck.NO_EXPIRY: (
        "signature_expiry_required",
        "has no expiry, and this bot accepts only expiring signatures",
    ),
}


def _start(key: ApiKey, body: ConversationCreateIn) -> tuple[Conversation, str]:
    c = body.customer
    identity = (
        Identity(email=c.email, external_id=c.external_id, name=c.name, signature=c.signature)
        if c
        else Identity()
    )
    status = identity_signature_status(bot=key.bot, identity=identity)
    if status not in (SignatureCheck.VALID, SignatureCheck.MISSING):
        code, problem = SIGNATURE_PROBLEMS[status]
        raise ApiError(
            code, f"customer.signature {problem}; see docs/api.md, Signed identities.", status=422
        )
    return conversation_open(
        bot=key.bot,
        visitor_id=body.visitor_id or f"api:{uuid.uuid4().hex}",
        identity=identity,
        api_key=key,
    )


@router.post(
    "/conversations",
    response={201: ConversationCreatedOut, **ERRORS},
    summary="Start a conversation",
    description="Needs the `chat` scope. Pass `customer` with a `signature` to start it for "
    "a verified customer (see docs/api.md, Signed identities).",
)
async def conversation_create(request: HttpRequest, body: ConversationCreateIn):
    key = scope_require(request, "chat")
    conversation, token = await database_call(_start)(key, body)
    return Status(201, {**conversation_out(conversation), "resume_token": token})


class ConversationFilters(In):
    status: ConversationStatus | None = None
    customer_email: str | None = Field(None, max_length=254)
    external_id: str | None = Field(None, max_length=128)
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=1_000_000)

    @field_validator("created_after", "created_before", mode="before")
    @classmethod
    def _iso_8601(cls, value: Any) -> Any:
        """ISO 8601 only: pydantic would read "0.5" as seconds since 1970."""
        if value is not None and not (isinstance(value, str) and ISO_DATE.match(value)):
            raise ValueError("an ISO 8601 date or date-time, such as 2026-05-01T12:00:00Z")
        return value

    @field_validator("created_after", "created_before")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """In UTC (naive means UTC): PostgreSQL refuses odd offsets such as -20:12."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("date out of range") from None


@router.get(
    "/conversations",
    response={200: ConversationPage, **ERRORS},
    summary="List conversations",
    description="Needs the `read` scope. Newest first.",
)
async def conversation_list(request: HttpRequest, filters: Query[ConversationFilters]):
    key = scope_require(request, "read")
    qs = Conversation.objects.filter(bot_id=key.bot_id).select_related("customer")
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.customer_email:
        qs = qs.filter(customer__email__iexact=filters.customer_email)
    if filters.external_id:
        qs = qs.filter(customer__external_id=filters.external_id)
    if filters.created_after:
        qs = qs.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        qs = qs.filter(created_at__lt=filters.created_before)
    total = await qs.acount()
    page = [
        c async for c in qs.order_by("-created_at")[filters.offset : filters.offset + filters.limit]
    ]
    end = filters.offset + len(page)
    return {
        "items": [conversation_out(c) for c in page],
        "total": total,
        "next_offset": end if end < total else None,
    }


@router.get(
    "/conversations/{uuid:conversation_id}",
    response={200: ConversationOut, **ERRORS},
    summary="Read a conversation",
    description="Needs the `read` scope, or `chat` for a conversation this key started.",
)
async def conversation_get(request: HttpRequest, conversation_id: uuid.UUID):
    key = scope_require(request, "read", "chat")
    return conversation_out(await _conversation(key, conversation_id))


@router.get(
    "/conversations/{uuid:conversation_id}/messages",
    response={200: MessagePage, **ERRORS},
    summary="Read a conversation's messages",
    description="Needs the `read` scope, or `chat` for a conversation this key started. "
    "Oldest first; page with `after_seq`.",
)
async def message_list(
    request: HttpRequest,
    conversation_id: uuid.UUID,
    after_seq: int = Query(0, ge=0, le=2_000_000_000),
    limit: int = Query(50, ge=1, le=200),
):
    key = scope_require(request, "read", "chat")
    conversation = await _conversation(key, conversation_id)
    qs = (
        Message.objects.filter(
            conversation=conversation, seq__gt=after_seq, role__in=TRANSCRIPT_ROLES
        )
        # The bot's tool-call turns carry no text for people; its answer follows them.
        .exclude(role=MessageRole.ASSISTANT, text="", state=MessageState.COMPLETE)
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("seq")
    )
    page = [m async for m in qs[: limit + 1]]
    more = len(page) > limit
    page = page[:limit]
    return {
        "items": [message_serialize(m) for m in page],
        "next_after_seq": page[-1].seq if more else None,
    }


def _message_after(conversation_id: Any, seq: int) -> dict[str, Any] | None:
    message = (
        Message.objects.filter(
            conversation_id=conversation_id, seq__gt=seq, role=MessageRole.ASSISTANT
        )
        .exclude(text="", state=MessageState.COMPLETE)
        .prefetch_related("attachments")
        .order_by("seq")
        .first()
    )
    return message_serialize(message) if message else None


def _message_by_id(message_id: int) -> dict[str, Any] | None:
    message = Message.objects.prefetch_related("attachments").filter(pk=message_id).first()
    return message_serialize(message) if message else None


def _status(conversation_id: Any) -> str:
    return Conversation.objects.only("status").get(pk=conversation_id).status


@router.post(
    "/conversations/{uuid:conversation_id}/messages",
    response={200: ReplyOut, 409: ErrorOut, **ERRORS},
    summary="Post a customer message and get the reply",
    description="Needs the `chat` scope. The reply comes as JSON once complete, or, with "
    "`Accept: text/event-stream` or `stream: true`, as Server-Sent Events: `message.accepted`, "
    "`assistant.started`, `assistant.delta`..., `tool.started`/`tool.finished`, "
    "`assistant.done` or `error`; the same events as the websocket. A reply runs to the end "
    "even if the client disconnects.",
    openapi_extra={
        "responses": {
            200: {
                "content": {
                    "text/event-stream": {
                        "schema": {"type": "string"},
                        "example": 'event: assistant.delta\ndata: {"type": "assistant.delta", '
                        '"seq": 2, "text": "Hello"}\n\n',
                    }
                }
            }
        }
    },
)
async def message_post(request: HttpRequest, conversation_id: uuid.UUID, body: MessageIn):
    key = scope_require(request, "chat")
    conversation = await _conversation(key, conversation_id, write=True)
    try:
        # The reply starts there and runs to the end whoever listens; if one is already
        # running, `events` are those of the turn after it, which answers this message.
        posted = await customer_message_post(
            conversation_id=conversation.pk,
            text=body.text,
            client_id=body.client_id or "",
            attachment_ids=[str(i) for i in body.attachment_ids],
            subscribe=True,
        )
    except DomainError as refused:
        raise message_refused_error(refused) from None
    message, events = posted.message, posted.events

    wants_stream = body.stream or "text/event-stream" in request.headers.get("Accept", "")
    if wants_stream:
        accepted = MessageAccepted(
            seq=message.seq,
            message_id=message.pk,
            client_id=message.client_id,
            duplicate=not posted.created,
        )
        response = StreamingHttpResponse(
            sse_stream(first=[accepted], events=events), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response

    reply: dict[str, Any] | None = None
    if events is not None:
        reply_id = await _reply_message_id(events)
        if reply_id is not None:
            reply = await database_call(_message_by_id)(reply_id)
    elif not posted.created:
        reply = await database_call(_message_after)(conversation.pk, message.seq)
    return {
        "message": posted.payload,
        "duplicate": not posted.created,
        "reply": reply,
        "status": await database_call(_status)(conversation.pk),
    }


async def _reply_message_id(events: AsyncIterator[Event]) -> int | None:
    """Wait for the reply to end; the id of its last message (the one with the answer)."""
    reply_id = None
    async for event in events:
        if isinstance(event, AssistantStarted | AssistantDone):
            reply_id = event.message_id
    return reply_id


@router.post(
    "/conversations/{uuid:conversation_id}/attachments",
    response={201: AttachmentOut, 409: ErrorOut, 413: ErrorOut, **ERRORS},
    summary="Upload an image to attach to a message",
    description="Needs the `chat` scope. multipart/form-data with one `file`: PNG, JPEG, GIF "
    "or WebP within the size limit. Send the returned id in a message's `attachment_ids`.",
)
async def attachment_upload(
    request: HttpRequest, conversation_id: uuid.UUID, file: File[UploadedFile]
):
    key = scope_require(request, "chat")
    conversation = await _conversation(key, conversation_id, write=True)
    if conversation.status == ConversationStatus.CLOSED:
        raise ApiError("conversation_closed", "This conversation is closed.", status=409)
    data = await database_call(file.read)()
    attachment = await database_call(attachment_create)(conversation_id=conversation.pk, data=data)
    return Status(
        201,
        {
            "id": attachment.pk,
            "content_type": attachment.content_type,
            "width": attachment.width,
            "height": attachment.height,
        },
    )


async def _after_status_change(key: ApiKey, conversation_id: uuid.UUID) -> dict[str, Any]:
    return conversation_out(await _conversation(key, conversation_id))


@router.post(
    "/conversations/{uuid:conversation_id}/handoff",
    response={200: ConversationOut, 409: ErrorOut, **ERRORS},
    summary="Ask for a human agent",
    description="Needs the `chat` scope. The bot falls silent until an agent answers.",
)
async def conversation_handoff(request: HttpRequest, conversation_id: uuid.UUID, body: HandoffIn):
    key = scope_require(request, "chat")
    conversation = await _conversation(key, conversation_id, write=True)
    await database_call(handoff_request)(
        conversation_id=conversation.pk, summary=body.summary, requested_by="api"
    )
    return await _after_status_change(key, conversation_id)


@router.post(
    "/conversations/{uuid:conversation_id}/close",
    response={200: ConversationOut, **ERRORS},
    summary="Close a conversation",
    description="Needs the `chat` scope. Closing twice is harmless.",
)
async def conversation_close_view(request: HttpRequest, conversation_id: uuid.UUID):
    key = scope_require(request, "chat")
    conversation = await _conversation(key, conversation_id, write=True)
    await database_call(conversation_close)(conversation_id=conversation.pk, closed_by="api")
    return await _after_status_change(key, conversation_id)


@router.post(
    "/conversations/{uuid:conversation_id}/rating",
    response={200: ConversationOut, **ERRORS},
    summary="Rate a conversation (CSAT 1-5)",
    description="Needs the `chat` scope. Rating again replaces the earlier rating.",
)
async def conversation_rate_view(request: HttpRequest, conversation_id: uuid.UUID, body: RatingIn):
    key = scope_require(request, "chat")
    conversation = await _conversation(key, conversation_id, write=True)
    await database_call(conversation_rate)(
        conversation_id=conversation.pk, rating=body.rating, comment=body.comment
    )
    return await _after_status_change(key, conversation_id)


@router.post(
    "/conversations/{uuid:conversation_id}/actions/{uuid:action_id}",
    response={200: ActionDecisionOut, **ERRORS},
    summary="Answer a confirm card (cancel an order, start a return)",
    description="Needs the `chat` scope. The customer's answer to an `action.proposed` event: "
    '`{"decision": "confirm"}` carries the action out, exactly once; `"decline"` drops it. '
    "The model can propose but never confirm. A second answer changes nothing and returns "
    "the action as it stands. The bot's answer to the decision comes back as `reply`.",
)
async def action_decide(
    request: HttpRequest, conversation_id: uuid.UUID, action_id: uuid.UUID, body: ActionDecisionIn
):
    key = scope_require(request, "chat")
    conversation = await _conversation(key, conversation_id, write=True)
    before = await database_call(_action_status)(conversation.pk, action_id)
    action = await database_call(order_action_decide)(
        conversation_id=conversation.pk, action_id=action_id, decision=body.decision
    )
    reply = None
    if before == OrderActionStatus.PROPOSED and conversation.status == ConversationStatus.BOT:
        reply_id = await _reply_message_id(reply_events(conversation_id=conversation.pk))
        if reply_id is not None:
            reply = await database_call(_message_by_id)(reply_id)
    return {"action": order_action_public(action), "reply": reply}


def _action_status(conversation_id: Any, action_id: uuid.UUID) -> str | None:
    return (
        OrderAction.objects.filter(pk=action_id, conversation_id=conversation_id)
        .values_list("status", flat=True)
        .first()
    )
