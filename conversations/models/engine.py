"""What the reply engine keeps besides messages: the running summary of long conversations."""

from django.db import models

from conversations.models.chat import Conversation


class ContextSummary(models.Model):
    """Turns older than `through_seq` reach the model only through this summary."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="context_summary"
    )
    text = models.TextField()
    through_seq = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Summary through #{self.through_seq}"
