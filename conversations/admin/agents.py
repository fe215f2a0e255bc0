"""Agents' profiles (the name and avatar customers see) and saved replies, set up by admins;
the copilot's drafts, to look at."""

from django.contrib import admin
from django.http import HttpRequest

from conversations.models import AgentProfile, ReplyDraft, SavedReply, ToolRun


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "avatar", "updated_at"]
    list_select_related = ["user"]
    search_fields = ["display_name", "user__username", "user__first_name"]
    autocomplete_fields = ["user"]


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):
    list_display = ["shortcut", "title", "bot", "updated_at"]
    list_filter = ["bot"]
    list_select_related = ["bot"]
    search_fields = ["shortcut", "title", "text"]


class DraftToolRunInline(admin.TabularInline):
    """The lookups a draft made (read-only tools only: tools/runs.py refuses the rest)."""

    model = ToolRun
    fk_name = "draft"
    fields = ["tool", "status", "arguments", "result", "duration_ms", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ReplyDraft)
class ReplyDraftAdmin(admin.ModelAdmin):
    """Copilot drafts, read-only: what the bot proposed to agents, with its lookups and cost."""

    list_display = [
        "created_at",
        "conversation",
        "agent",
        "state",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    ]
    list_filter = ["state", "conversation__bot"]
    list_select_related = ["conversation", "agent"]
    search_fields = ["text", "agent__username"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ReplyDraft._meta.fields]
    inlines = [DraftToolRunInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
