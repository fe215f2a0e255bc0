"""Admin for the embedding API: keys (secret shown once), webhook endpoints, delivery log."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from conversations.domain.webhooks import WebhookTargetRefused, webhook_target_check
from conversations.edge.apikeys import api_key_create, api_key_revoke, api_scopes_parse
from conversations.models import ApiKey, ApiScope, WebhookDelivery, WebhookEndpoint, WebhookEvent


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple, initial=["chat"]
    )

    class Meta:
        model = ApiKey
        fields = ["bot", "name", "scopes"]


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked sends every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["bot", "url", "events", "active", "secret"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            webhook_target_check(url, resolve_required=False)
        except WebhookTargetRefused as refused:
            raise forms.ValidationError(str(refused)) from None
        return url


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "bot", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["bot", "revoked_at"]
    search_fields = ["name", "prefix"]
    fields = ["bot", "name", "scopes", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # a key's bot and scopes are fixed: make a new key instead
            return [*self.readonly_fields, "bot", "scopes"]
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        key, secret = api_key_create(
            bot=obj.bot, name=obj.name, scopes=api_scopes_parse(obj.scopes or ["chat"])
        )
        obj.pk, obj.prefix, obj.secret_hash = key.pk, key.prefix, key.secret_hash
        obj._state.adding = False
        self.message_user(
            request,
            f"The key's secret, shown only now, copy it: {secret}",
            level=messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset) -> None:
        for key in queryset:
            api_key_revoke(key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["event", "attempt", "status_code", "error", "delivered_at", "next_retry_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-created_at"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-created_at")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "bot", "events", "active", "created_at"]
    list_filter = ["bot", "active"]
    search_fields = ["url"]
    inlines = [WebhookDeliveryInline]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "event",
        "endpoint",
        "attempt",
        "status_code",
        "delivered_at",
        "failed_at",
        "next_retry_at",
    ]
    list_filter = ["event", "endpoint__bot", "status_code"]
    list_select_related = ["endpoint"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
