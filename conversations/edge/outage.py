"""A dependency away (Redis: the cache, the channel layer, the Celery broker): JSON 503 with
Retry-After, never a 500. PostgreSQL being away is left to /healthz and the 500 it is."""

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conversations.edge.responses import error_response

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, BrokerError, ConnectionRefusedError)
MESSAGE = "The service is briefly unavailable; please retry shortly."


def is_outage(error: BaseException | None) -> bool:
    """Whether the error (or one it was raised from) is a dependency being unreachable."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OUTAGE_ERRORS):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def unavailable_response(request: HttpRequest) -> JsonResponse:
    """503 with Retry-After, in the one error envelope (edge/responses.py)."""
    response = error_response(status=503, code="unavailable", message=MESSAGE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class OutageMiddleware:
    """Turns an unreachable dependency, anywhere in a view, into JSON 503 with Retry-After."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_outage(exception):
            return None
        logger.warning("%s %s: a dependency is away: %s", request.method, request.path, exception)
        response = unavailable_response(request)
        origin = request.headers.get("Origin")
        if origin and request.path.startswith("/widget/"):
            # The widget must read it (and retry): the origin was checked before the view ran.
            response["Access-Control-Allow-Origin"] = origin
            response["Vary"] = "Origin"
        return response
