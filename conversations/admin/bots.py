"""Bots and customers in the admin: admins configure bots (agents only read transcripts)."""

from django.contrib import admin

from conversations.agents.access import agent_bots_filter
from conversations.models import Bot, Customer


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "model", "is_active", "retention_days", "retention_action"]
    list_filter = ["is_active", "model"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["public_key", "created_at", "updated_at"]
    filter_horizontal = ["agent_groups"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "is_active", "public_key"]}),
        ("Agents", {"fields": ["agent_groups"]}),
        (
            "Model",
            {
                "fields": [
                    "model",
                    "temperature",
                    "max_output_tokens",
                    "daily_token_budget",
                    "system_prompt",
                    "greeting",
                ]
            },
        ),
        (
            "Widget",
            {"fields": ["allowed_origins", "identity_secret", "identity_signatures_expire"]},
        ),
        ("Privacy", {"fields": ["retention_days", "retention_action"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "bot", "email", "external_id", "verified_by", "created_at"]
    list_filter = ["bot"]
    list_select_related = ["bot"]
    search_fields = ["=email", "=visitor_id", "=external_id"]
    readonly_fields = ["bot", "visitor_id", "verified_by", "verified_at", "created_at"]

    def get_queryset(self, request):
        """Only the customers of the bots this staff member's teams handle."""
        return agent_bots_filter(super().get_queryset(request), request.user)

    show_full_result_count = False
