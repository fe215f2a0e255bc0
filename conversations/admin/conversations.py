"""Transcript review: a fast conversation list, a transcript that reads like the chat, actions.

The list never runs a query per row: every column comes from the conversation row or the
customer and bot joined to it (the message count is `last_seq`, tokens and cost are totals).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from conversations.admin.search import CappedCountPaginator, conversations_search
from conversations.agents.access import agent_may_reply
from conversations.agents.transcripts import transcript_messages, transcripts_csv, transcripts_json
from conversations.domain.errors import DomainError
from conversations.domain.status import conversation_close
from conversations.models import Attachment, Conversation, ConversationStatus, Message, ModelName


class HandedOffFilter(admin.SimpleListFilter):
    title = "handed off"
    parameter_name = "handed_off"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(handoff_requested_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(handoff_requested_at__isnull=True)
        return queryset


class RatingFilter(admin.SimpleListFilter):
    """Fixed choices: the default filter would scan the table for the distinct ratings."""

    title = "CSAT rating"
    parameter_name = "csat"

    def lookups(self, request, model_admin):
        return [(str(n), "★" * n) for n in range(5, 0, -1)] + [("none", "Not rated")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(csat_rating__isnull=True)
        if value in {"1", "2", "3", "4", "5"}:
            return queryset.filter(csat_rating=int(value))
        return queryset


class ModelFilter(admin.SimpleListFilter):
    """Conversations in which this model wrote at least one reply."""

    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return [*ModelName.choices, ("offline", "offline engine")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        replies = Message.objects.filter(conversation=OuterRef("pk"), model=self.value())
        return queryset.filter(Exists(replies))


class FlagForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        required=False,
        help_text="What should a reviewer look at?",
    )


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "transcript_link",
        "customer_label",
        "started",
        "message_count",
        "status",
        "csat",
        "tokens",
        "cost",
        "topic",
        "bot",
        "flagged",
    ]
    list_display_links = None
    list_filter = [
        "bot",
        "status",
        "created_at",
        RatingFilter,
        HandedOffFilter,
        ModelFilter,
        "flagged",
    ]
    list_select_related = ["customer", "bot"]
    search_fields = ["customer__email"]
    search_help_text = "Words from the messages, or (with an @) the customer's email."
    list_per_page = 50
    show_full_result_count = False
    paginator = CappedCountPaginator
    ordering = ["-created_at"]
    actions = ["flag_for_review", "close_conversations", "export_json", "export_csv"]
    change_form_template = "admin/conversations/conversation/transcript.html"
    fieldsets = [("Review", {"fields": ["flagged", "flag_note"]})]

    # --- The list.

    @admin.display(description="Conversation", ordering="created_at")
    def transcript_link(self, obj: Conversation):
        url = reverse("admin:conversations_conversation_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.title or str(obj.pk)[:8])

    @admin.display(description="Customer", ordering="customer__email")
    def customer_label(self, obj: Conversation) -> str:
        return str(obj.customer)

    @admin.display(description="Started", ordering="created_at")
    def started(self, obj: Conversation):
        return obj.created_at

    @admin.display(description="Messages", ordering="last_seq")
    def message_count(self, obj: Conversation) -> int:
        return obj.last_seq

    @admin.display(description="CSAT", ordering="csat_rating")
    def csat(self, obj: Conversation) -> str:
        return "★" * obj.csat_rating if obj.csat_rating else "-"

    @admin.display(description="Tokens")
    def tokens(self, obj: Conversation) -> int:
        return obj.prompt_tokens + obj.completion_tokens

    @admin.display(description="Cost", ordering="cost_usd")
    def cost(self, obj: Conversation) -> str:
        return f"${obj.cost_usd:.4f}"

    def get_search_results(self, request, queryset, search_term):
        """Customer email, or words in any message; one EXISTS, so no duplicate rows."""
        return conversations_search(queryset, search_term), False

    # --- The transcript page.

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = get_object_or_404(
            Conversation.objects.select_related("bot", "customer", "assigned_agent"),
            pk=object_id,
        )
        extra_context = {
            **(extra_context or {}),
            "conversation": conversation,
            "entries": transcript_messages(conversation_id=conversation.pk),
            "may_reply": agent_may_reply(request.user),
            "live_url": reverse("agents:conversation", args=[conversation.pk]),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path(
                "attachments/<uuid:attachment_id>/",
                self.admin_site.admin_view(self.attachment_view),
                name="conversations_attachment",
            ),
            *super().get_urls(),
        ]

    def attachment_view(self, request, attachment_id):
        """An image from a transcript, for staff who may view conversations."""
        if not self.has_view_permission(request):
            raise Http404
        attachment = get_object_or_404(Attachment, pk=attachment_id)
        if not attachment.file:
            raise Http404
        return FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)

    # --- Actions.

    @admin.action(description="Flag for review (with a note)", permissions=["change"])
    def flag_for_review(self, request, queryset):
        if "apply" in request.POST:
            form = FlagForm(request.POST)
            if form.is_valid():
                changed = queryset.update(
                    flagged=True, flag_note=form.cleaned_data["note"], updated_at=timezone.now()
                )
                self.message_user(request, f"Flagged {changed} conversation(s) for review.")
                return None
        else:
            form = FlagForm()
        return render(
            request,
            "admin/conversations/conversation/flag.html",
            {
                **self.admin_site.each_context(request),
                "title": "Flag for review",
                "form": form,
                "conversations": queryset[:50],
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Close", permissions=["change"])
    def close_conversations(self, request, queryset):
        closed = 0
        for pk in queryset.exclude(status=ConversationStatus.CLOSED).values_list("pk", flat=True):
            try:
                conversation_close(conversation_id=pk, closed_by="agent", agent=request.user)
                closed += 1
            except DomainError as error:  # pragma: no cover - close never refuses today
                self.message_user(request, error.message, messages.WARNING)
        self.message_user(request, f"Closed {closed} conversation(s).")

    @admin.action(description="Export as JSON", permissions=["view"])
    def export_json(self, request, queryset):
        response = StreamingHttpResponse(
            transcripts_json(queryset), content_type="application/json; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="transcripts.json"'
        return response

    @admin.action(description="Export as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        response = StreamingHttpResponse(
            transcripts_csv(queryset), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="transcripts.csv"'
        return response
