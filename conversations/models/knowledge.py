"""What a bot knows besides orders: its FAQ."""

from django.db import models

from conversations.models.bots import Bot


class FaqEntry(models.Model):
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="faq_entries")
    question = models.CharField(max_length=300)
    answer = models.TextField()
    alternatives = models.JSONField(
        default=list, blank=True, help_text="Other ways customers ask it."
    )
    tags = models.JSONField(default=list, blank=True)
    is_published = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # One L2-normalised float32 row per phrasing (question, then alternatives), computed by
    # conversations.knowledge.index on import and on every change; empty until then.
    embedding = models.BinaryField(default=b"", blank=True, editable=False)
    embedding_model = models.CharField(max_length=100, blank=True, default="", editable=False)
    # The hash of the phrasings the vectors were computed from: a mismatch means "stale".
    embedding_hash = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"
        ordering = ["bot", "question"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "question"], name="faq_unique_question"),
        ]
        indexes = [models.Index(fields=["bot", "is_published"], name="faq_bot_published")]

    def __str__(self) -> str:
        return self.question


class FaqRouter(models.Model):
    """A bot's fitted FAQ router (conversations.knowledge.hybrid): weights and threshold."""

    bot = models.OneToOneField(Bot, on_delete=models.CASCADE, related_name="faq_router")
    # The hash of the entries and embedder it was fitted on; another hash means "refit".
    version = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    fitted_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "FAQ router"

    def __str__(self) -> str:
        return f"FAQ router of {self.bot}"
