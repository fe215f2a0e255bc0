"""Conversations, their messages, the tool runs the model asked for, and attachments."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from conversations.models.bots import Bot, Customer

COST_FIELD = {"max_digits": 14, "decimal_places": 8, "default": 0}


class ConversationStatus(models.TextChoices):
    BOT = "bot", "Bot answering"
    WAITING = "waiting", "Waiting for an agent"
    AGENT = "agent", "Agent answering"
    CLOSED = "closed", "Closed"


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="conversations")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(
        max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.BOT
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    handoff_requested_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # The highest sequence number handed out; message_append increments it under a row lock.
    last_seq = models.PositiveIntegerField(default=0)

    title = models.CharField(max_length=200, blank=True)
    summary = models.TextField(blank=True)
    topic = models.CharField(max_length=60, blank=True)
    sentiment = models.CharField(max_length=20, blank=True)
    resolved_by_bot = models.BooleanField(null=True, blank=True)

    csat_rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    csat_comment = models.TextField(blank=True)
    flagged = models.BooleanField(default=False)
    flag_note = models.TextField(blank=True)

    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(**COST_FIELD)

    # The API key that started it: a `chat` key reaches only its own conversations.
    api_key = models.ForeignKey(
        "conversations.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    # Set only by the request that started (or resumed) it with a valid host signature for its
    # customer: verification belongs to this conversation, never to a browser or a visitor id.
    verified_at = models.DateTimeField(null=True, blank=True)

    # Only a SHA-256 of the resume token is kept: a leaked database does not open conversations.
    resume_token_hash = models.CharField(max_length=64, unique=True)
    # A keyed hash of the address the widget started it from (conversations.tools.access
    # .client_key): order-proof guessing is limited per address without storing the address.
    client_key = models.CharField(max_length=32, blank=True)
    # Set when retention stripped its personal data; the figures stay for the dashboard.
    anonymised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["bot", "status", "-created_at"], name="conv_bot_status_created"),
            models.Index(fields=["status", "handoff_requested_at"], name="conv_waiting_queue"),
            models.Index(fields=["-created_at"], name="conv_created"),
            models.Index(fields=["customer", "-created_at"], name="conv_customer_created"),
            models.Index(fields=["bot", "-last_message_at"], name="conv_bot_last_message"),
            # The admin's filters and the background sweeps.
            models.Index(
                fields=["-created_at"], condition=models.Q(flagged=True), name="conv_flagged"
            ),
            models.Index(fields=["csat_rating", "-created_at"], name="conv_csat_created"),
            models.Index(
                fields=["-created_at"],
                condition=models.Q(handoff_requested_at__isnull=False),
                name="conv_handed_off",
            ),
            models.Index(
                fields=["last_message_at"],
                condition=models.Q(topic=""),
                name="conv_insights_pending",
            ),
            models.Index(
                fields=["bot", "created_at"],
                condition=models.Q(anonymised_at__isnull=True),
                name="conv_retention_pending",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(csat_rating__isnull=True)
                | models.Q(csat_rating__gte=1, csat_rating__lte=5),
                name="conversation_csat_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {str(self.id)[:8]}"

    @property
    def owner(self) -> str:
        """Who answers now: "bot", "agent" or "nobody" (waiting for an agent, or closed)."""
        if self.status == ConversationStatus.BOT:
            return "bot"
        if self.status == ConversationStatus.AGENT:
            return "agent"
        return "nobody"

    @property
    def identity_verified(self) -> bool:
        """This conversation presented the host's signature for its (verified) customer."""
        return self.verified_at is not None and self.customer.is_verified


class MessageRole(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    ASSISTANT = "assistant", "Assistant"
    TOOL = "tool", "Tool"
    AGENT = "agent", "Agent"
    EVENT = "event", "System event"


class MessageState(models.TextChoices):
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    INTERRUPTED = "interrupted", "Interrupted"
    FAILED = "failed", "Failed"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveIntegerField(help_text="Orders the message within its conversation.")
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    text = models.TextField(blank=True)
    client_id = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        help_text="Client-generated id; a resend is not stored twice.",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The agent who wrote it (agent messages only).",
    )
    # Assistant messages: the calls the model asked for, [{"id", "name", "arguments"}].
    tool_calls = models.JSONField(default=list, blank=True)
    # Tool messages: which call this is the result of.
    tool_call_id = models.CharField(max_length=64, blank=True)
    # Event messages: what happened ("handoff_requested", "agent_joined", ...) and its details.
    event = models.CharField(max_length=40, blank=True)
    data = models.JSONField(default=dict, blank=True)
    sources = models.JSONField(default=list, blank=True, help_text="FAQ entries the reply cites.")

    model = models.CharField(max_length=60, blank=True)
    engine = models.CharField(max_length=20, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(**COST_FIELD)
    tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="What the message's text costs in a prompt, counted once when it is stored "
        "(empty: counted when needed).",
    )
    ttft_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to first token.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    state = models.CharField(
        max_length=12, choices=MessageState.choices, default=MessageState.COMPLETE
    )
    # A reply being written holds a lease: the process writing it, renewed while it runs. A
    # streaming row whose lease expired lost its process; the sweep (domain/recovery.py) ends it.
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="message_unique_client_id",
            ),
        ]
        indexes = [
            models.Index(fields=["role", "created_at"], name="message_role_created"),
            models.Index(fields=["model", "conversation"], name="message_model_conversation"),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(state="streaming"),
                name="message_streaming_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.role}: {self.text[:40]}"


class ToolRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    INVALID = "invalid", "Invalid arguments"
    TIMEOUT = "timeout", "Timed out"


class ReplyDraft(models.Model):
    """A reply the copilot drafted for an agent: never a message, never sent to the customer.

    The agent edits the text and sends it as their own reply, or not; the row keeps the
    draft's tool runs, usage and cost together.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="drafts")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reply_drafts",
    )
    tools = models.JSONField(
        default=list, blank=True, help_text="The tools the draft was offered (read-only ones)."
    )
    text = models.TextField(blank=True)
    state = models.CharField(
        max_length=12, choices=MessageState.choices, default=MessageState.STREAMING
    )
    finish_reason = models.CharField(max_length=20, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="draft_conversation")]

    def __str__(self) -> str:
        return f"Draft {self.pk} ({self.state})"


class ToolRun(models.Model):
    """One function call the model made: its arguments, result, status, timings and worker.

    It belongs to the assistant message that made the call, or to a copilot draft: exactly one.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="tool_runs"
    )
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tool_runs",
        help_text="The assistant turn (empty for a draft's run).",
    )
    draft = models.ForeignKey(
        ReplyDraft,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tool_runs",
        help_text="The copilot draft (empty for a reply's run).",
    )
    call_id = models.CharField(max_length=64)
    tool = models.CharField(max_length=60)
    arguments = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ToolRunStatus.choices, default=ToolRunStatus.QUEUED
    )
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "call_id"], name="toolrun_unique_call"),
            models.UniqueConstraint(fields=["draft", "call_id"], name="toolrun_unique_draft_call"),
            models.CheckConstraint(
                condition=models.Q(message__isnull=False, draft__isnull=True)
                | models.Q(message__isnull=True, draft__isnull=False),
                name="toolrun_message_or_draft",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="toolrun_conversation"),
            models.Index(fields=["tool", "status"], name="toolrun_tool_status"),
        ]

    def __str__(self) -> str:
        return f"{self.tool} ({self.status})"


def attachment_path(instance: "Attachment", filename: str) -> str:
    return f"attachments/{instance.conversation_id}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """An image a customer uploaded; bound to a message when the message is sent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.content_type} {self.size} bytes"
