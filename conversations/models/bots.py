"""Bots (one configured assistant per site) and the customers who talk to them."""

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

MAX_OUTPUT_TOKENS = 16_384


class ModelName(models.TextChoices):
    GPT_4O_MINI = "gpt-4o-mini", "gpt-4o-mini"
    GPT_41_MINI = "gpt-4.1-mini", "gpt-4.1-mini"
    GPT_41_NANO = "gpt-4.1-nano", "gpt-4.1-nano"


def new_public_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


def new_identity_secret() -> str:
    return secrets.token_urlsafe(32)


DEFAULT_SYSTEM_PROMPT = (
    "You are the customer-support assistant of {store}. Answer only questions about {store}: "
    "its orders, products, shipping, returns and policies. Use the tools to look facts up and "
    "never invent order details, prices or policies. Cite the FAQ entries you use. If you "
    "cannot help, offer to hand the customer over to a human agent."
)


class RetentionAction(models.TextChoices):
    ANONYMISE = "anonymise", "Anonymise (keep the figures, drop personal data)"
    DELETE = "delete", "Delete"


class Bot(models.Model):
    """One assistant for one store's site (the tenant that everything else belongs to)."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    system_prompt = models.TextField(default=DEFAULT_SYSTEM_PROMPT)
    model = models.CharField(
        max_length=40, choices=ModelName.choices, default=ModelName.GPT_4O_MINI
    )
    temperature = models.FloatField(
        default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_output_tokens = models.PositiveIntegerField(
        default=1024, validators=[MinValueValidator(1), MaxValueValidator(MAX_OUTPUT_TOKENS)]
    )
    greeting = models.CharField(max_length=500, default="Hi! How can I help you today?")
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Origins allowed to embed the widget, e.g. ["https://shop.example.com"].',
    )
    public_key = models.CharField(max_length=64, unique=True, default=new_public_key)
    identity_secret = models.CharField(
        max_length=128,
        default=new_identity_secret,
        help_text="HMAC-SHA256 key the host site signs customer identities with. Keep it secret.",
    )
    identity_signatures_expire = models.BooleanField(
        default=False,
        help_text="Accept only expiring signatures (`<expires>.<digest>`, docs/api.md): a plain "
        "one, valid forever once it leaks from a page, is refused.",
    )
    is_active = models.BooleanField(default=True)
    agent_groups = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="bots",
        help_text="Staff in these groups (teams) see and answer this bot's conversations; "
        "superusers see every bot.",
    )
    daily_token_budget = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Model tokens (prompt + completion) a day, UTC; beyond it the bot hands off. "
        "Empty means no limit.",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Anonymise or delete conversations older than this many days. Empty keeps them.",
    )
    retention_action = models.CharField(
        max_length=10,
        choices=RetentionAction.choices,
        default=RetentionAction.ANONYMISE,
        help_text="What happens to conversations older than the retention period.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    max_output_tokens__gte=1, max_output_tokens__lte=MAX_OUTPUT_TOKENS
                ),
                name="bot_max_output_tokens_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(temperature__gte=0, temperature__lte=2),
                name="bot_temperature_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class VerifiedBy(models.TextChoices):
    """Which of a customer's values the host site signed; the others are only claims."""

    NOTHING = "", "nothing"
    EXTERNAL_ID = "external_id", "external id"
    EMAIL = "email", "email"


class Customer(models.Model):
    """Somebody chatting with a bot: an anonymous visitor, perhaps identified by the host site."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="customers")
    visitor_id = models.CharField(max_length=64, help_text="Anonymous id kept by the widget.")
    email = models.EmailField(blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    name = models.CharField(max_length=200, blank=True)
    verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the host site's signature over email/id was checked."
    )
    verified_by = models.CharField(
        max_length=12,
        choices=VerifiedBy.choices,
        blank=True,
        default=VerifiedBy.NOTHING,
        help_text="The value the host signed; the other fields are what the visitor claimed.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "visitor_id"], name="customer_unique_visitor"),
        ]
        indexes = [
            models.Index(fields=["bot", "email"], name="customer_bot_email"),
            models.Index(fields=["bot", "external_id"], name="customer_bot_external_id"),
        ]

    def __str__(self) -> str:
        # Twelve characters tell visitors apart at a glance ("seed-0000042" whole).
        return self.email or self.name or f"visitor {self.visitor_id[:12]}"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None and bool(self.verified_by)

    @property
    def verified_email(self) -> str:
        return self.email if self.is_verified and self.verified_by == VerifiedBy.EMAIL else ""

    @property
    def verified_external_id(self) -> str:
        verified = self.is_verified and self.verified_by == VerifiedBy.EXTERNAL_ID
        return self.external_id if verified else ""
