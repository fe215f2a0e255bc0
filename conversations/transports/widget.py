"""The widget's HTTP endpoints: start or resume a conversation, upload and fetch images.

Called cross-origin from the store's pages, so every answer carries CORS headers for the bot's
allowed origins (and the server's own pages, the demo). Authentication is the resume token the
session endpoint hands out, sent in a header: no cookies, so no CSRF.
"""

import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from conversations.agents.hours import agents_availability
from conversations.domain.attachments import attachment_create
from conversations.domain.conversation import (
    Identity,
    conversation_for_token,
    identity_signature_status,
    session_open,
)
from conversations.domain.errors import DomainError
from conversations.domain.text import text_problem
from conversations.edge.identity import SignatureCheck
from conversations.edge.origins import bot_origin_allowed, cors_headers_set
from conversations.edge.ratelimit import client_ip, rate_limit_hit, rate_limited_response
from conversations.edge.responses import error_response
from conversations.models import Attachment, Bot, Conversation, ConversationStatus
from conversations.tools.access import client_key
from conversations.transports.pages import page_language

VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_ATTACHMENTS_PER_CONVERSATION = 100
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Content-Type, X-Conversation, X-Resume-Token"
# A session body holds a visitor id, a resume token and an identity: a few hundred bytes.
MAX_SESSION_BODY_BYTES = 16 * 1024


def _origin_allowed(request: HttpRequest, bot: Bot) -> bool:
    origin = request.headers.get("Origin", "")
    if not origin:
        return True  # same-origin GETs and non-browser clients; the token still decides
    return bot_origin_allowed(bot=bot, origin=origin, host=request.get_host())


def _cors(response: HttpResponse, request: HttpRequest) -> HttpResponse:
    origin = request.headers.get("Origin")
    if not origin:
        patch_vary_headers(response, ["Origin"])
        return response
    return cors_headers_set(response, origin=origin, methods=ALLOW_METHODS, headers=ALLOW_HEADERS)


def _error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    """The widget's answers share the API's envelope: {"error": {"code", "message"}}."""
    return _cors(error_response(status=status, code=code, message=message), request)


def widget_endpoint(methods: list[str]) -> Callable:
    """Find the bot by its public key, check the origin, answer preflights, add CORS headers."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        def wrapped(request: HttpRequest, public_key: str, **kwargs: Any) -> HttpResponse:
            bot = Bot.objects.filter(public_key=public_key, is_active=True).first()
            if bot is None:
                return _error(request, 404, "unknown_bot", "This chat is not available.")
            if not _origin_allowed(request, bot):
                # No CORS headers: the browser hides the answer from the page.
                return error_response(
                    status=403,
                    code="origin_not_allowed",
                    message="This site may not use this chat.",
                )
            if request.method == "OPTIONS":
                return _cors(HttpResponse(status=204), request)
            if request.method not in methods:
                return _error(request, 405, "method_not_allowed", "Method not allowed.")
            limited = rate_limit_hit(
                scope="widget",
                subject=client_ip(request),
                limit=settings.SUPPORTBOT_RATE_PER_IP_PER_MINUTE,
            )
            if not limited.allowed:
                return _cors(rate_limited_response(limited), request)
            return _cors(view(request, bot, **kwargs), request)

        return wrapped

    return decorate


def _conversation_from_headers(request: HttpRequest, bot: Bot) -> Conversation | None:
    conversation_id = request.headers.get("X-Conversation", "")
    token = request.headers.get("X-Resume-Token", "")
    try:
        conversation = conversation_for_token(conversation_id=conversation_id, token=token)
    except (ValueError, TypeError, ValidationError):
        return None
    return conversation if conversation is not None and conversation.bot_id == bot.pk else None


def _session_payload(
    conversation: Conversation,
    token: str | None,
    visitor_id: str,
    resumed: bool,
    signature: SignatureCheck = SignatureCheck.MISSING,
) -> dict[str, Any]:
    return {
        "conversation_id": str(conversation.pk),
        "token": token,
        "visitor_id": visitor_id,
        "resumed": resumed,
        "status": conversation.status,
        "websocket_path": f"/ws/chat/{conversation.pk}/",
        "bot": {"name": conversation.bot.name, "greeting": conversation.bot.greeting},
        "agents": agents_availability(now=timezone.now()),
        "limits": {
            "max_message_chars": settings.SUPPORTBOT_MAX_MESSAGE_CHARS,
            "max_image_bytes": settings.SUPPORTBOT_MAX_IMAGE_BYTES,
        },
        # Whether this conversation's customer is verified, and what became of the signature
        # sent ("missing", "valid", "invalid", "expired", "too_long", "no_expiry").
        "identity": {"verified": conversation.identity_verified, "signature": str(signature)},
    }


def _identity(raw: Any) -> Identity | None:
    if not isinstance(raw, dict):
        return None
    fields = {
        key: str(raw.get(key, ""))[:limit]
        for key, limit in (("email", 254), ("external_id", 128), ("name", 200), ("signature", 128))
    }
    return Identity(**fields) if any(fields.values()) else None


def _session_body(request: HttpRequest) -> tuple[dict[str, Any], str]:
    """The session request's JSON object, or why it cannot be taken (too large, too deep, ...)."""
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_SESSION_BODY_BYTES:
        return {}, f"The body is larger than {MAX_SESSION_BODY_BYTES // 1024} KB."
    raw = request.body or b"{}"
    if len(raw) > MAX_SESSION_BODY_BYTES:
        return {}, f"The body is larger than {MAX_SESSION_BODY_BYTES // 1024} KB."
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        return {}, "The body must be a JSON object."
    if problem := text_problem(body):
        return {}, problem
    return body, ""


@widget_endpoint(["POST"])
def session(request: HttpRequest, bot: Bot) -> HttpResponse:
    """Resume the visitor's conversation, or start a new one: its id and resume token."""
    body, problem = _session_body(request)
    if problem:
        return _error(request, 400, "malformed", problem)
    visitor_id = body.get("visitor_id")
    if not isinstance(visitor_id, str) or not VISITOR_ID.match(visitor_id):
        return _error(request, 400, "malformed", "visitor_id: 16 to 64 letters, digits, - or _.")
    identity = _identity(body.get("identity"))
    conversation_id, token = body.get("conversation_id"), body.get("token")
    resume = isinstance(conversation_id, str) and isinstance(token, str) and not body.get("new")
    conversation, token, resumed = session_open(
        bot=bot,
        visitor_id=visitor_id,
        identity=identity,
        conversation_id=conversation_id if resume else None,
        token=token if resume else None,
        client_key=client_key(client_ip(request)),
    )
    signature = identity_signature_status(bot=bot, identity=identity)
    return JsonResponse(
        _session_payload(conversation, token, visitor_id, resumed, signature),
        status=200 if resumed else 201,
    )


@widget_endpoint(["POST"])
def attachment_upload(request: HttpRequest, bot: Bot) -> HttpResponse:
    """Store an image the customer attaches; the message that sends it binds it later."""
    limit = settings.SUPPORTBOT_MAX_IMAGE_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > limit + 64 * 1024:
        return _error(request, 413, "too_large", f"Images are at most {limit // 1024} KB.")
    conversation = _conversation_from_headers(request, bot)
    if conversation is None:
        return _error(request, 401, "unauthorized", "This conversation cannot be opened.")
    if conversation.status == ConversationStatus.CLOSED:
        return _error(request, 409, "closed", "This conversation is closed.")
    upload = request.FILES.get("file")
    if upload is None:
        return _error(request, 400, "malformed", 'Send the image as the "file" form field.')
    if upload.size > limit:
        return _error(request, 413, "too_large", f"Images are at most {limit // 1024} KB.")
    if conversation.attachments.count() >= MAX_ATTACHMENTS_PER_CONVERSATION:
        return _error(request, 429, "too_many", "This conversation has too many images.")
    try:
        attachment = attachment_create(conversation_id=conversation.pk, data=upload.read())
    except DomainError as refused:
        if refused.code == "image_too_large":
            return _error(request, 413, "too_large", refused.message)
        return _error(request, 415, "unsupported_image", "Attach a JPEG, PNG, WebP or GIF image.")
    return JsonResponse(
        {
            "id": str(attachment.pk),
            "content_type": attachment.content_type,
            "size": attachment.size,
            "width": attachment.width,
            "height": attachment.height,
        },
        status=201,
    )


@widget_endpoint(["GET"])
def attachment_content(request: HttpRequest, bot: Bot, attachment_id: Any) -> HttpResponse:
    """An image of the conversation, for the customer who holds its resume token."""
    conversation = _conversation_from_headers(request, bot)
    attachment = (
        Attachment.objects.filter(pk=attachment_id, conversation=conversation).first()
        if conversation is not None
        else None
    )
    if attachment is None:
        return _error(request, 404, "not_found", "No such image.")
    response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


@require_GET
def demo_embed(request: HttpRequest) -> HttpResponse:
    """How a store puts the widget on its pages: the script tag, identity signing, settings."""
    bot = Bot.objects.filter(is_active=True).order_by("pk").first()
    locale = page_language(request, "locale", default="")
    return render(request, "demo/embed.html", {"bot": bot, "locale": locale})
