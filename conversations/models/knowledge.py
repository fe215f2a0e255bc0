"""What a bot knows besides orders: its FAQ and its help-center articles."""

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
    drafted_from = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The resolved hand-off this draft was learned from.",
    )
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


class ArticleFormat(models.TextChoices):
    MARKDOWN = "markdown", "Markdown"
    HTML = "html", "HTML"
    TEXT = "text", "Plain text"


class Article(models.Model):
    """A help-center article: the body as given, its clean text, and the passages searched.

    `version` grows whenever the content changes; `indexed_version` names the version whose
    passages searching uses, switched in one UPDATE once they are all written, so a search
    never sees an article half re-indexed.
    """

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="articles")
    title = models.CharField(max_length=300)
    body = models.TextField(help_text="As given: Markdown, HTML or plain text.")
    body_format = models.CharField(
        max_length=10, choices=ArticleFormat.choices, default=ArticleFormat.MARKDOWN
    )
    text = models.TextField(blank=True, editable=False, help_text="The body as clean text.")
    source = models.CharField(
        max_length=500,
        help_text="Where it came from (a file name or the help center's id/URL); imports "
        "match on it.",
    )
    url = models.URLField(max_length=1000, blank=True, help_text="The article's public page.")
    locale = models.CharField(max_length=20, blank=True)
    is_published = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    indexed_version = models.PositiveIntegerField(default=0, editable=False)
    indexed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bot", "title"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "source"], name="article_unique_source"),
        ]
        indexes = [
            # Covers the per-search version check (count, latest indexed_at and updated_at),
            # so it never reads the article bodies.
            models.Index(
                fields=["bot", "is_published", "indexed_version", "indexed_at", "updated_at"],
                name="article_search_version",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Passage(models.Model):
    """A few hundred tokens of an article under one heading path, for search and citing."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="passages")
    version = models.PositiveIntegerField(help_text="The article version it was cut from.")
    position = models.PositiveIntegerField()
    heading = models.CharField(max_length=500, blank=True, help_text='"Returns > Refunds"')
    anchor = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    # Written by the indexing task in the same rows it switches in: the passage's vector (the
    # title, heading path and first words, float32) and the embedder that made it.
    embedding = models.BinaryField(default=b"", blank=True, editable=False)
    embedding_model = models.CharField(max_length=100, blank=True, default="", editable=False)

    class Meta:
        ordering = ["article", "version", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["article", "version", "position"], name="passage_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.article_id} v{self.version} #{self.position} {self.heading}"
