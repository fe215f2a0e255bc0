"""What agents bring to the console: how customers see them, and the replies they reuse."""

from django.conf import settings
from django.db import models

from conversations.models.bots import Bot


class AgentProfile(models.Model):
    """The name and picture customers see for an agent, instead of the login name."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    display_name = models.CharField(
        max_length=80, help_text='What customers see, e.g. "Dana from Support".'
    )
    # A plain string path: migrations never import app code.
    avatar = models.ImageField(
        upload_to="avatars/", blank=True, help_text="Optional; shown small beside the name."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.display_name


class SavedReply(models.Model):
    """A canned reply agents insert with "/" in the reply box; placeholders are filled in."""

    title = models.CharField(max_length=120)
    shortcut = models.SlugField(
        max_length=40, unique=True, help_text='Typed after "/" in the reply box, e.g. "tracking".'
    )
    text = models.TextField(
        help_text="Markdown. Placeholders: {customer_name}, {order_number}, {agent_name}."
    )
    bot = models.ForeignKey(
        Bot,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="saved_replies",
        help_text="Only for this bot's conversations; empty means every bot.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]
        verbose_name_plural = "saved replies"

    def __str__(self) -> str:
        return f"/{self.shortcut} {self.title}"
