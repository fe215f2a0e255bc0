"""Small factories for test data: plain functions with keyword-only overrides."""

import itertools
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.agents.access import agents_group_ensure
from conversations.domain.conversation import conversation_start
from conversations.models import (
    Bot,
    Conversation,
    Customer,
    FaqEntry,
    Fulfillment,
    Order,
    OrderLine,
    Payment,
    StoreCustomer,
)

DEMO_FAQ = Path(__file__).resolve().parent.parent / "conversations" / "demo" / "faq.json"

_counter = itertools.count(1)


def bot_create(**overrides: Any) -> Bot:
    """A bot, handled by the "agents" group (as the demo's is)."""
    n = next(_counter)
    fields = {"name": f"Store {n}", "slug": f"store-{n}", "allowed_origins": ["http://testserver"]}
    fields.update(overrides)
    bot = Bot.objects.create(**fields)
    bot.agent_groups.add(agents_group_ensure())
    return bot


def customer_create(*, bot: Bot, **overrides: Any) -> Customer:
    """A customer; with `verified_at`, the host signed their external id (or else email)."""
    fields = {"visitor_id": f"visitor-{next(_counter)}"}
    fields.update(overrides)
    if fields.get("verified_at") and "verified_by" not in fields:
        fields["verified_by"] = "external_id" if fields.get("external_id") else "email"
    return Customer.objects.create(bot=bot, **fields)


def conversation_create(*, bot: Bot, customer: Customer | None = None) -> Conversation:
    """A conversation; a verified customer's one started as if with the host's signature."""
    customer = customer or customer_create(bot=bot)
    conversation, token = conversation_start(
        bot=bot, customer=customer, verified=customer.is_verified
    )
    conversation.resume_token = token  # handy in tests; never stored
    return conversation


def store_customer_create(*, bot: Bot, **overrides: Any) -> StoreCustomer:
    n = next(_counter)
    fields = {
        "external_id": f"shopper_{n}",
        "first_name": "Sam",
        "last_name": f"Shopper{n}",
        "email": f"shopper{n}@example.com",
        "address": {"address1": f"{n} Main St", "city": "Austin", "state": "TX", "zip": "78701"},
        "payment_methods": {
            f"credit_card_{n}": {
                "source": "credit_card",
                "id": f"credit_card_{n}",
                "brand": "visa",
                "last_four": "4242",
            }
        },
    }
    fields.update(overrides)
    return StoreCustomer.objects.create(bot=bot, **fields)


def order_create(
    *,
    bot: Bot,
    customer: StoreCustomer | None = None,
    number: str | None = None,
    status: str = "processed",
    tracking: list[str] | None = None,
    zip_code: str = "10083",
) -> Order:
    """An order with two lines, a card payment and (unless pending) a tracked fulfilment."""
    n = next(_counter)
    customer = customer or store_customer_create(bot=bot)
    order = Order.objects.create(
        bot=bot,
        number=number or f"#W{1000000 + n}",
        customer=customer,
        status=status,
        shipping_address={"address1": "215 River Road", "city": "New York", "zip": zip_code},
        placed_at=timezone.now() - timedelta(days=n % 20),
        total=Decimal("536.65"),
    )
    OrderLine.objects.create(
        order=order,
        position=1,
        product_id="8310926033",
        item_id=f"646956{n:04d}",
        name="Water Bottle",
        options={"capacity": "1000ml", "color": "blue"},
        price=Decimal("47.84"),
    )
    OrderLine.objects.create(
        order=order,
        position=2,
        product_id="4794339885",
        item_id=f"842624{n:04d}",
        name="Office Chair",
        options={"material": "fabric", "color": "black"},
        price=Decimal("488.81"),
    )
    method_id = next(iter(customer.payment_methods or {"gift_card_1": {}}))
    Payment.objects.create(
        order=order,
        position=1,
        transaction_type="payment",
        amount=Decimal("536.65"),
        method_id=method_id,
    )
    if status != "pending":
        Fulfillment.objects.create(
            order=order,
            position=1,
            tracking_numbers=tracking or [f"35796{n:07d}"],
            item_ids=list(order.lines.values_list("item_id", flat=True)),
            carrier="UPS",
        )
    return order


def faq_load(*, bot: Bot, path: Path = DEMO_FAQ) -> list[FaqEntry]:
    """Load an FAQ in the import format (a JSON list of entries) into a bot."""
    entries = json.loads(path.read_text())
    with transaction.atomic():  # one vector refresh for the whole FAQ, not one per entry
        return _faq_entries_create(bot=bot, entries=entries)


def _faq_entries_create(*, bot: Bot, entries: list[dict[str, Any]]) -> list[FaqEntry]:
    return [
        FaqEntry.objects.create(
            bot=bot,
            question=entry["question"],
            answer=entry["answer"],
            alternatives=entry.get("alternatives", []),
            tags=entry.get("tags", []),
            is_published=entry.get("published", True),
        )
        for entry in entries
    ]


def turns_with_images_create(*, conversation: Conversation, agent: Any, turns: int) -> None:
    """Customer messages with an image each, answered by an agent: where an N+1 would show."""
    from django.core.files.base import ContentFile

    from conversations.domain.messages import message_append
    from conversations.models import Attachment, MessageRole

    for i in range(turns):
        message, _ = message_append(
            conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=f"question {i}"
        )
        attachment = Attachment(
            conversation=conversation, message=message, content_type="image/png", size=3
        )
        attachment.file.save("x.png", ContentFile(b"png"), save=False)
        attachment.save()
        message_append(
            conversation_id=conversation.pk, role=MessageRole.AGENT, text=f"a{i}", author=agent
        )


def article_create(*, bot: Bot, body: str, title: str = "", **overrides: Any):
    """An article saved and indexed at once (the indexing task is queued after commit)."""
    from conversations.knowledge.articles import ArticleFields, article_index, article_save

    n = next(_counter)
    fields = {"source": f"article-{n}.md", "title": title or f"Article {n}", "body": body}
    fields.update(overrides)
    article, _ = article_save(bot=bot, fields=ArticleFields(**fields))
    article_index(article_id=article.pk)
    article.refresh_from_db()
    return article


def help_center_load(*, bot: Bot) -> None:
    """The demo help center (conversations/demo/help/) as the bot's articles, indexed."""
    from conversations.demo.loader import DEMO_HELP_DIR
    from conversations.importing.articles import articles_read, articles_store
    from conversations.knowledge.articles import article_index, articles_reindex_due

    articles_store(bot=bot, articles=articles_read(paths=[DEMO_HELP_DIR]))
    for article_id in articles_reindex_due(bot_id=bot.pk):
        article_index(article_id=article_id)
