"""Pages and probes served over plain HTTP."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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
    return render(request, "demo/store.html", {"bot": bot})
