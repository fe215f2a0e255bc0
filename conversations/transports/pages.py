"""Pages and probes served over plain HTTP."""

import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from conversations.demo.loader import demo_catalogue, demo_orders_suggested
from conversations.models import Bot
from conversations.transports.health import health_report


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    report = await health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@require_GET
def demo_store(request: HttpRequest) -> HttpResponse:
    bot = Bot.objects.filter(is_active=True).order_by("pk").first()
    return render(
        request,
        "demo/store.html",
        {
            "bot": bot,
            "products": demo_catalogue(),
            "orders": demo_orders_suggested(),
            # One to cancel, one to return: the assistant proposes, a card asks the customer.
            "action_orders": demo_orders_suggested(statuses=("pending", "delivered")),
            "lang": page_language(request, "lang", default="en"),
        },
    )


LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")


def page_language(request: HttpRequest, parameter: str, *, default: str) -> str:
    """A language tag from the query string (?lang=de), to try the widget in another language."""
    value = request.GET.get(parameter, "")
    return value if LANGUAGE_TAG.match(value) else default
