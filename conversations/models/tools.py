"""What the tools remember about a conversation: orders proven there, and the attempts."""

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
