"""Setting a bot up for the API from the docs page: keys and webhook endpoints (staff only).

These calls use the admin's login (session cookie and CSRF token), not an API key, so a
developer signed in to /admin/ can do everything from /api/docs/.
"""

import uuid
from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.security import SessionAuthIsStaff
from pydantic import Field, HttpUrl

from conversations.domain.webhooks import WebhookTargetRefused, webhook_target_check
from conversations.edge.apikeys import ApiKeyError, api_key_create, api_key_revoke
from conversations.models import (
    ApiKey,
    ApiScope,
    Bot,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from conversations.transports.api.errors import ApiError, ErrorOut
from conversations.transports.api.schemas import In

router = Router(tags=["setup (admin login)"], auth=SessionAuthIsStaff())

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def _bot(request: HttpRequest, slug: str, permission: str) -> Bot:
    if not request.user.has_perm(f"conversations.{permission}"):
        raise ApiError("forbidden", f"Your account lacks the {permission} permission.", 403)
    bot = Bot.objects.filter(slug=slug).first()
    if bot is None:
        raise ApiError("not_found", "No bot with that slug.", status=404)
    return bot


class KeyIn(In):
    name: str = Field("API key", min_length=1, max_length=100)
    scopes: list[ApiScope] = Field(min_length=1, max_length=3)


class KeyOut(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreatedOut(KeyOut):
    secret: str = Field(description="Shown this once: only its hash is stored.")


class WebhookIn(In):
    url: HttpUrl
    events: list[WebhookEvent] = Field(
        default_factory=list, max_length=5, description="Empty sends every event."
    )


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    active: bool
    secret: str = Field(description="Verifies the Supportbot-Signature header.")
    created_at: datetime


class DeliveryOut(Schema):
    id: uuid.UUID
    event: str
    attempt: int
    status_code: int | None
    error: str
    response_excerpt: str
    delivered_at: datetime | None
    failed_at: datetime | None
    next_retry_at: datetime | None
    created_at: datetime
    payload: dict


@router.post(
    "/bots/{slug:slug}/keys",
    response={201: KeyCreatedOut, **ERRORS},
    summary="Create an API key (shows its secret once)",
)
def key_create(request: HttpRequest, slug: str, body: KeyIn):
    bot = _bot(request, slug, "add_apikey")
    try:
        key, secret = api_key_create(bot=bot, name=body.name, scopes=[s.value for s in body.scopes])
    except ApiKeyError as exc:
        raise ApiError("invalid_request", str(exc), status=422) from None
    return Status(201, {**KeyOut.model_validate(key).model_dump(), "secret": secret})


@router.get("/bots/{slug:slug}/keys", response={200: list[KeyOut], **ERRORS}, summary="List keys")
def key_list(request: HttpRequest, slug: str):
    bot = _bot(request, slug, "view_apikey")
    return list(ApiKey.objects.filter(bot=bot).order_by("-created_at")[:200])


@router.post(
    "/bots/{slug:slug}/keys/{int:key_id}/revoke",
    response={200: KeyOut, **ERRORS},
    summary="Revoke a key",
)
def key_revoke(request: HttpRequest, slug: str, key_id: int):
    bot = _bot(request, slug, "change_apikey")
    key = ApiKey.objects.filter(bot=bot, pk=key_id).first()
    if key is None:
        raise ApiError("not_found", "No such key.", status=404)
    return api_key_revoke(key=key)


@router.post(
    "/bots/{slug:slug}/webhooks",
    response={201: WebhookOut, **ERRORS},
    summary="Add a webhook endpoint",
)
def webhook_create(request: HttpRequest, slug: str, body: WebhookIn):
    bot = _bot(request, slug, "add_webhookendpoint")
    try:
        webhook_target_check(str(body.url), resolve_required=False)
    except WebhookTargetRefused as refused:
        raise ApiError("webhook_url_refused", str(refused), status=422) from None
    endpoint = WebhookEndpoint.objects.create(
        bot=bot, url=str(body.url), events=[e.value for e in body.events]
    )
    return Status(201, endpoint)


@router.get(
    "/bots/{slug:slug}/webhooks",
    response={200: list[WebhookOut], **ERRORS},
    summary="List webhook endpoints",
)
def webhook_list(request: HttpRequest, slug: str):
    bot = _bot(request, slug, "view_webhookendpoint")
    return list(WebhookEndpoint.objects.filter(bot=bot).order_by("pk")[:200])


@router.get(
    "/bots/{slug:slug}/webhooks/{int:endpoint_id}/deliveries",
    response={200: list[DeliveryOut], **ERRORS},
    summary="The latest deliveries to an endpoint",
)
def webhook_deliveries(request: HttpRequest, slug: str, endpoint_id: int):
    bot = _bot(request, slug, "view_webhookdelivery")
    deliveries = WebhookDelivery.objects.filter(
        endpoint__bot=bot, endpoint_id=endpoint_id
    ).order_by("-created_at")[:100]
    return list(deliveries)
