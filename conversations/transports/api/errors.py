"""API errors: every failure is JSON `{"error": {"code", "message"}}` with a stable code."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from conversations.domain.status import StatusError
from conversations.edge.outage import is_outage, unavailable_response

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A failure with a stable `code` for programs and a `message` for people."""

    def __init__(self, code: str, message: str, status: int = 400, **headers: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
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
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return api.create_response(request, {"error": body}, status=status)


STATUS_ERROR_HTTP = {"closed": 409, "taken": 409, "invalid_rating": 422}


def error_handlers_install(api: NinjaAPI) -> None:
    @api.exception_handler(ApiError)
    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        response = error_response(
            api, request, status=exc.status, code=exc.code, message=exc.message
        )
        for name, value in exc.headers.items():
            response[name.replace("_", "-")] = value
        return response

    @api.exception_handler(StatusError)
    def status_error(request: HttpRequest, exc: StatusError) -> HttpResponse:
        status = STATUS_ERROR_HTTP.get(exc.code, 409)
        return error_response(api, request, status=status, code=exc.code, message=exc.message)

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
