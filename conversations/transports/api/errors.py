"""API errors: every failure is JSON `{"error": {"code", "message"}}` with a stable code.

The one place the API maps a DomainError (and Django's and Ninja's own failures) to HTTP.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from conversations.domain.errors import DomainError
from conversations.edge.outage import is_outage, unavailable_response
from conversations.edge.responses import error_response as edge_error_response

logger = logging.getLogger(__name__)


class ApiError(DomainError):
    """A refusal of the API itself (keys, scopes, lookups), with its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, **headers: str) -> None:
        super().__init__(code, message)
        self.status = status
        self.headers = headers


class ErrorBody(Schema):
    code: str
    message: str
    details: list[Any] | None = None


class ErrorOut(Schema):
    error: ErrorBody


def error_response(
    api: NinjaAPI, request: HttpRequest, *, status: int, code: str, message: str, **extra: Any
) -> HttpResponse:
    return edge_error_response(status=status, code=code, message=message, **extra)


# The message endpoint's codes and statuses, as docs/api.md documents them, for the intake's
# refusals (conversations.domain.intake.customer_message_post).
MESSAGE_REFUSED_HTTP = {
    "closed": (409, "conversation_closed"),
    "empty": (422, "empty_message"),
    "invalid_attachment": (422, "unknown_attachment"),
    "too_long": (422, "too_long"),
}


def message_refused_error(refused: DomainError) -> ApiError:
    """The API's error for a customer message the intake refused."""
    status, code = MESSAGE_REFUSED_HTTP.get(refused.code, (422, refused.code))
    return ApiError(code, refused.message, status=status)


# The HTTP status of each domain refusal (DomainError code); anything else is 422.
DOMAIN_ERROR_HTTP = {
    "closed": 409,
    "conversation_closed": 409,
    "taken": 409,
    "not_owner": 409,
    "image_too_large": 413,
    "action_not_found": 404,
    "invalid_decision": 422,
}


def error_handlers_install(api: NinjaAPI) -> None:
    @api.exception_handler(DomainError)
    def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        """Every refusal, the API's own (ApiError) and the domain's, in the one envelope."""
        status = getattr(exc, "status", None) or DOMAIN_ERROR_HTTP.get(exc.code, 422)
        response = error_response(api, request, status=status, code=exc.code, message=exc.message)
        for name, value in getattr(exc, "headers", {}).items():
            response[name.replace("_", "-")] = value
        return response

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        details = [
            {"loc": list(e.get("loc", [])), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid"}
        where = ".".join(str(part) for part in first["loc"] if part not in ("body", "query"))
        return error_response(
            api,
            request,
            status=422,
            code="invalid_request",
            message=f"{where}: {first['msg']}" if where else str(first["msg"]),
            details=details,
        )

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = error_response(
            api,
            request,
            status=401,
            code="unauthenticated",
            message="Send a valid API key: Authorization: Bearer sbk_...",
        )
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(api, request, status=404, code="not_found", message="Not found.")

    @api.exception_handler(PermissionDenied)
    def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return error_response(api, request, status=403, code="forbidden", message="Forbidden.")

    @api.exception_handler(RequestDataTooBig)
    def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return error_response(
            api, request, status=413, code="body_too_large", message="The request body is too big."
        )

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = {400: "bad_request", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(api, request, status=exc.status_code, code=code, message=str(exc))

    @api.exception_handler(Exception)
    def internal(request: HttpRequest, exc: Exception) -> HttpResponse:
        if is_outage(exc):
            return unavailable_response(request)
        logger.exception("API error on %s %s", request.method, request.path)
        return error_response(
            api, request, status=500, code="internal_error", message="Something went wrong."
        )
