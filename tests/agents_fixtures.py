"""Fixtures for the agent-facing tests: agents, and conversations with messages."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from conversations.agents.access import agents_group_ensure
from conversations.domain.messages import message_append
from conversations.models import MessageRole
from tests import factories


@pytest.fixture(autouse=True)
def static_files_unhashed(settings):
    """Tests run with DEBUG off but no collectstatic: serve static names as they are."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def agent_user(db):
    """A staff member in the "agents" group (created by the migration)."""
    user = get_user_model().objects.create_user(
        username="alice", password="pw", first_name="Alice", is_staff=True
    )
    user.groups.add(agents_group_ensure())
    return user


@pytest.fixture
def other_agent(db):
    user = get_user_model().objects.create_user(
        username="bob", password="pw", first_name="Bob", is_staff=True
    )
    user.groups.add(agents_group_ensure())
    return user


def chat_create(*, bot, texts=("where is my order #W1?", "Thanks!"), email="", **fields):
    """A conversation with customer/assistant turns and the given conversation fields."""
    customer = factories.customer_create(bot=bot, email=email)
    conversation = factories.conversation_create(bot=bot, customer=customer)
    for n, text in enumerate(texts):
        message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text)
        message_append(
            conversation_id=conversation.pk,
            role=MessageRole.ASSISTANT,
            text=f"Answer {n}",
            model="gpt-4o-mini",
            prompt_tokens=100,
            completion_tokens=20,
            cost_usd=Decimal("0.00002700"),
            ttft_ms=300 + n,
        )
    if fields:
        type(conversation).objects.filter(pk=conversation.pk).update(**fields)
        conversation.refresh_from_db()
    return conversation
