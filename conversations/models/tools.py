"""What the tools remember about a conversation: orders proven there, and the attempts."""

import uuid

from django.db import models

from conversations.models.chat import Conversation


class OrderAccessGrant(models.Model):
    """An unverified customer proved they own this order (number plus its email or zip code).

    The order becomes visible in this conversation only. Orders are named by number, not by
    row, because they may live in the store's own system behind an HTTP connector.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="order_grants"
    )
    order_number = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "order_number"], name="orderaccessgrant_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_number} in {self.conversation_id}"


class OrderProofAttempt(models.Model):
    """One try at proving an order; failures are counted to throttle guessing."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="order_proof_attempts"
    )
    order_number = models.CharField(max_length=64)
    succeeded = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["conversation", "succeeded", "created_at"], name="orderproof_recent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_number} ({'ok' if self.succeeded else 'failed'})"


class OrderActionStatus(models.TextChoices):
    PROPOSED = "proposed", "Waiting for the customer"
    CONFIRMED = "confirmed", "Confirmed, running"
    DONE = "done", "Done"
    DECLINED = "declined", "Declined by the customer"
    REFUSED = "refused", "Refused (the order changed)"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class OrderAction(models.Model):
    """One proposed change to an order (cancel, return), carried out at most once.

    Its id is the one-time id of the confirm card: only the customer's own confirmation,
    never the model, moves it from proposed to confirmed (a conditional UPDATE: one winner),
    and it is the idempotency key sent to an HTTP order source.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="order_actions"
    )
    action = models.CharField(max_length=40)
    order_number = models.CharField(max_length=64)
    details = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=OrderActionStatus.choices, default=OrderActionStatus.PROPOSED
    )
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "status"], name="orderaction_conv_status"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.order_number} ({self.status})"


class OrderProofLimit(models.Model):
    """Failed order proofs counted for one scope (a conversation, an order, a visitor, an
    address) in a fixed window; taken by a conditional UPDATE, so parallel calls never
    overshoot the limit."""

    scope = models.CharField(max_length=120, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.scope}: {self.failures}"
