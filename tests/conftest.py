"""Shared fixtures: the servers CI provides, and small factories for data."""

import os

import pytest

from tests import factories
from tests.agents_fixtures import agent_user, other_agent, static_files_unhashed  # noqa: F401
from tests.webhook_receiver import WebhookReceiver

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


@pytest.fixture(scope="session")
def openai_server_session():
    """One local OpenAI-protocol server for the whole run (tests/openai_server.py)."""
    from tests.openai_server import openai_server_running

    with openai_server_running() as server:
        yield server


@pytest.fixture
def openai_server(openai_server_session):
    """The local OpenAI-protocol server, its script and request log empty for this test."""
    openai_server_session.reset()
    yield openai_server_session
    openai_server_session.reset()


@pytest.fixture
def receiver(settings):
    """A local HTTP server that records the webhooks it receives (on 127.0.0.1, which webhooks
    may reach only with SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE)."""
    settings.SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE = True
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process even when a broker is configured."""
    from supportbot.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
