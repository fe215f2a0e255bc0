"""The API's HTTP edge: per-IP rate limit, request body cap and CORS for the bot's origins."""

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_vary_headers

from conversations.database import database_call
from conversations.edge.origins import bot_origin_allowed, cors_headers_set, origin_known
from conversations.edge.ratelimit import arate_limit_hit, client_ip, rate_limited_response

API_PREFIX = "/api/v1/"
ALLOW_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Accept, Last-Event-ID"
EXPOSE_HEADERS = "Retry-After"


def body_limit(path: str) -> int:
    if path.endswith("/import"):
        return settings.SUPPORTBOT_API_MAX_IMPORT_BYTES
    if path.endswith("/attachments"):
        return settings.SUPPORTBOT_MAX_IMAGE_BYTES + 64 * 1024  # the image plus form framing
    return settings.SUPPORTBOT_API_MAX_BODY_BYTES


def _too_large(limit: int) -> JsonResponse:
    return JsonResponse(
        {
            "error": {
                "code": "body_too_large",
                "message": f"The request body may be at most {limit} bytes.",
            }
        },
        status=413,
    )


def _body_size(request: HttpRequest, cap: int) -> int:
    """The declared size; a body sent without one (chunked) is measured, up to Django's cap."""
    declared = (request.headers.get("Content-Length") or "").strip()
    if declared.isdigit():
        return int(declared)
    if request.method in ("POST", "PUT", "PATCH") and not request.content_type.startswith(
        "multipart/"
    ):
        try:
            return len(request.body)
        except RequestDataTooBig:
            return cap + 1
    return 0


class ApiEdgeMiddleware:
    """Runs only for /api/v1/: everything else passes straight through."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> Any:
        if not request.path.startswith(API_PREFIX):
            return await self.get_response(request)
        origin = request.headers.get("Origin", "")
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return await self._preflight(request, origin)
        limit = await arate_limit_hit(
            scope="api-ip",
            subject=client_ip(request),
            limit=settings.SUPPORTBOT_RATE_PER_IP_PER_MINUTE,
        )
        if not limit.allowed:
            return rate_limited_response(limit)
        cap = body_limit(request.path)
        if _body_size(request, cap) > cap:
            return _too_large(cap)
        response = await self.get_response(request)
        if origin:
            self._cors(request, response, origin)
        return response

    async def _preflight(self, request: HttpRequest, origin: str) -> HttpResponse:
        response = HttpResponse(status=204)
        patch_vary_headers(response, ["Origin"])
        if origin and await database_call(origin_known)(origin=origin, host=request.get_host()):
            cors_headers_set(response, origin=origin, methods=ALLOW_METHODS, headers=ALLOW_HEADERS)
        return response

    def _cors(self, request: HttpRequest, response: HttpResponse, origin: str) -> None:
        key = getattr(request, "auth", None)
        bot = getattr(key, "bot", None)
        patch_vary_headers(response, ["Origin"])
        if bot is not None and bot_origin_allowed(bot=bot, origin=origin, host=request.get_host()):
            cors_headers_set(response, origin=origin, expose=EXPOSE_HEADERS)
