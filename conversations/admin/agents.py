"""Agents' profiles (the name and avatar customers see) and saved replies, set up by admins."""

from django.contrib import admin

from conversations.models import AgentProfile, SavedReply


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
