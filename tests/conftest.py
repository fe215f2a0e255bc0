"""Shared fixtures: the servers CI provides, and small factories for data."""

import os

import pytest

from tests import factories
from tests.agents_fixtures import agent_user, other_agent, static_files_unhashed  # noqa: F401

HAS_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
HAS_REDIS = bool(os.environ.get("REDIS_URL"))

requires_postgres = pytest.mark.skipif(
    not HAS_POSTGRES, reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)"
)
requires_redis = pytest.mark.skipif(
    not HAS_REDIS, reason="needs Redis: set REDIS_URL=redis://... (CI does)"
)


@pytest.fixture
def bot(db):
    return factories.bot_create()


@pytest.fixture
def customer(bot):
    return factories.customer_create(bot=bot)


@pytest.fixture
def conversation(bot, customer):
    return factories.conversation_create(bot=bot, customer=customer)
