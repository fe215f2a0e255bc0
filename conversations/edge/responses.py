"""The one JSON error envelope of every HTTP answer, API and widget alike.

`{"error": {"code": ..., "message": ..., ...}}`: `code` is stable for programs, `message` is
for people. Each transport maps a DomainError's code to its HTTP status in one place
(transports/api/errors.py, transports/widget.py) and answers through `error_response`.
"""

from typing import Any

from django.http import JsonResponse


def error_response(*, status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JsonResponse({"error": body}, status=status)
