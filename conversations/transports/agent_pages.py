"""The agent console (live queue, live conversation) and the dashboard: staff only."""

from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from conversations.agents import charts
from conversations.agents.access import (
    agent_bots,
    agent_conversations,
    agent_may_reply,
    agent_may_review,
)
from conversations.agents.metrics import dashboard_figures
from conversations.agents.queue import agent_queue


def reviewers_only(view):
    @staff_member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not agent_may_review(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@reviewers_only
def queue_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "agents/queue.html",
        {"queue": agent_queue(user=request.user), "title": "Waiting for an agent"},
    )


@require_GET
@reviewers_only
def conversation_page(request: HttpRequest, conversation_id) -> HttpResponse:
    conversation = get_object_or_404(
        agent_conversations(request.user).select_related("bot", "customer", "assigned_agent"),
        pk=conversation_id,
    )
    return render(
        request,
        "agents/conversation.html",
        {
            "conversation": conversation,
            "may_reply": agent_may_reply(request.user),
            "title": f"Conversation with {conversation.customer}",
        },
    )


@require_GET
@reviewers_only
def dashboard(request: HttpRequest) -> HttpResponse:
    try:
        days = min(max(int(request.GET.get("days", 30)), 1), 365)
    except ValueError:
        days = 30
    bots = list(agent_bots(request.user).order_by("name"))
    bot_id = request.GET.get("bot") or None
    if bot_id and not any(str(b.pk) == bot_id for b in bots):
        bot_id = None
    figures = dashboard_figures(days=days, bot_id=bot_id, bot_ids=[b.pk for b in bots])
    day_list = [d.day for d in figures.days]

    def series(name):
        return [getattr(d, name) for d in figures.days]

    costs = [float(v) for v in series("cost")]
    specs = [
        ("Conversations per day", charts.bar_chart, series("conversations"), ""),
        ("Resolved by the bot", charts.line_chart, series("resolution_rate"), "%"),
        ("Handed to a human", charts.line_chart, series("handoff_rate"), "%"),
        ("CSAT (1 to 5)", charts.line_chart, series("csat"), ""),
        ("Median time to first token (ms)", charts.line_chart, series("ttft_median_ms"), ""),
        ("Tokens per day", charts.bar_chart, series("tokens"), ""),
        ("Cost per day (USD)", charts.bar_chart, costs, "$"),
    ]
    graphs = [
        (title, draw(title=title, days=day_list, values=values, unit=unit))
        for title, draw, values, unit in specs
    ]
    return render(
        request,
        "agents/dashboard.html",
        {
            "title": "Dashboard",
            "figures": figures,
            "graphs": graphs,
            "topics": charts.ranking_chart(title="Top topics", rows=figures.topics),
            "bots": bots,
            "bot_id": bot_id,
            "days": days,
        },
    )
