"""What lets other systems embed a bot: API keys, webhook endpoints and their delivery log."""

import secrets
import uuid

from django.db import models

from conversations.models.bots import Bot


class ApiScope(models.TextChoices):
    CHAT = "chat", "Chat: start conversations and talk in them"
    READ = "read", "Read transcripts"
    KNOWLEDGE = "knowledge", "Manage knowledge: FAQ and order data"


class ApiKey(models.Model):
    """A per-bot secret for the REST API; only the secret's SHA-256 is stored."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=16, unique=True, help_text="The key's public start, to recognise it."
    )
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list, help_text='e.g. ["chat", "read", "knowledge"]')
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["bot", "-created_at"], name="apikey_bot_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class WebhookEvent(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created", "conversation.created"
    MESSAGE_CREATED = "message.created", "message.created"
    HANDOFF_REQUESTED = "handoff.requested", "handoff.requested"
    CONVERSATION_CLOSED = "conversation.closed", "conversation.closed"
    RATING_RECEIVED = "rating.received", "rating.received"


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


class WebhookEndpoint(models.Model):
    """A URL of the host's that receives signed POSTs for the events it subscribed to."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=100,
        default=new_webhook_secret,
        help_text="Signs every delivery (Supportbot-Signature header). Keep it secret.",
    )
    events = models.JSONField(
        default=list, blank=True, help_text="Event names to send; empty sends every event."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "webhook endpoint"
        ordering = ["bot", "url"]
        indexes = [models.Index(fields=["bot", "active"], name="webhook_bot_active")]

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one endpoint: every attempt updates this row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField()
    attempt = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Gave up after retries.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} (attempt {self.attempt})"
