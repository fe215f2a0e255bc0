"""The agent console (live queue, live conversation) and the dashboard: staff only."""

import json
from functools import wraps
from urllib.parse import urlencode

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from conversations.agents import charts
from conversations.agents.access import (
    agent_bots,
    agent_conversations,
    agent_may_reply,
    agent_may_review,
    agent_name,
)
from conversations.agents.customer_panel import customer_panel
from conversations.agents.metrics import dashboard_figures
from conversations.agents.queue import agent_queue
from conversations.agents.saved_replies import saved_replies_search
from conversations.knowledge.unanswered import unanswered_groups
from conversations.models import AgentProfile, Bot


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
    may_reply = agent_may_reply(request.user)
    return render(
        request,
        "agents/conversation.html",
        {
            "conversation": conversation,
            "may_reply": may_reply,
            "me": agent_name(request.user),
            # "Open & take over" from the queue: the page claims the conversation on opening.
            "take_over": may_reply and request.GET.get("take") == "1",
            "panel": customer_panel(conversation_id=conversation.pk),
            "title": f"Conversation with {conversation.customer}",
        },
    )


@require_GET
@reviewers_only
def customer_panel_page(request: HttpRequest, conversation_id) -> HttpResponse:
    """The customer panel alone, for the console to refresh after the bot looked things up."""
    get_object_or_404(agent_conversations(request.user).only("id"), pk=conversation_id)
    return render(
        request,
        "agents/customer_panel.html",
        {"panel": customer_panel(conversation_id=conversation_id)},
    )


@require_GET
@reviewers_only
def saved_replies(request: HttpRequest, conversation_id) -> HttpResponse:
    """Saved replies matching ?q=, their placeholders filled in for this conversation."""
    if not agent_may_reply(request.user):
        raise PermissionDenied
    get_object_or_404(agent_conversations(request.user).only("id"), pk=conversation_id)
    found = saved_replies_search(
        conversation_id=conversation_id, agent=request.user, query=request.GET.get("q", "")[:100]
    )
    return JsonResponse({"replies": found})


@require_GET
def agent_avatar(request: HttpRequest, user_id: int) -> HttpResponse:
    """An agent's avatar: public, since customers see it next to the agent's messages."""
    profile = AgentProfile.objects.filter(user_id=user_id).only("avatar").first()
    if profile is None or not profile.avatar:
        raise Http404
    response = FileResponse(profile.avatar.open("rb"))
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


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


UNANSWERED_DAYS = (7, 30, 90)


@require_GET
@reviewers_only
def unanswered(request: HttpRequest) -> HttpResponse:
    """The questions the bot could not answer, grouped, with a "write an answer" link each."""
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in UNANSWERED_DAYS else 30
    bots = list(Bot.objects.order_by("name"))
    bot_id = request.GET.get("bot") or None
    chosen = [b.pk for b in bots if str(b.pk) == bot_id] or [b.pk for b in bots]
    groups = unanswered_groups(bot_ids=chosen, days=days)
    for group in groups:
        group.others = [e for e in group.examples if e != group.question]
        group.why = ", ".join(f"{reason} ({n})" for reason, n in group.reasons.most_common())
        group.write_url = "/admin/conversations/faqentry/add/?" + urlencode(
            {
                "bot": group.bot_id,
                "question": group.question,
                "alternatives": json.dumps(group.others),
            }
        )
    return render(
        request,
        "agents/unanswered.html",
        {
            "title": "Unanswered",
            "groups": groups,
            "bots": bots,
            "bot_id": bot_id if bot_id and len(chosen) == 1 else None,
            "days": days,
            "day_choices": UNANSWERED_DAYS,
            "may_write": request.user.has_perm("conversations.add_faqentry"),
        },
    )
