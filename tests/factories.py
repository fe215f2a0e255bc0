"""Small factories for test data: plain functions with keyword-only overrides."""

import itertools
from typing import Any

from conversations.conversation import conversation_start
from conversations.models import Bot, Conversation, Customer

_counter = itertools.count(1)


def bot_create(**overrides: Any) -> Bot:
    n = next(_counter)
    fields = {"name": f"Store {n}", "slug": f"store-{n}", "allowed_origins": ["http://testserver"]}
    fields.update(overrides)
    return Bot.objects.create(**fields)


def customer_create(*, bot: Bot, **overrides: Any) -> Customer:
    fields = {"visitor_id": f"visitor-{next(_counter)}"}
    fields.update(overrides)
    return Customer.objects.create(bot=bot, **fields)


def conversation_create(*, bot: Bot, customer: Customer | None = None) -> Conversation:
    conversation, token = conversation_start(bot=bot, customer=customer or customer_create(bot=bot))
    conversation.resume_token = token  # handy in tests; never stored
    return conversation
