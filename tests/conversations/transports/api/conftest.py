"""API test fixtures: keys with scopes, and a live ASGI server for SSE and schemathesis."""

import contextlib
import os
from pathlib import Path

import pytest
from django.db import connection

from conversations.edge.apikeys import api_key_create
from tests.asgi_server import free_port, uvicorn_running

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(autouse=True)
def _committing_db(transactional_db):
    """API views are async: the engine's database_sync_to_async closes a connection that sits
    in a test transaction, so these tests commit for real (as production does)."""


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def make_key(db):
    def make(bot, scopes="chat,read,knowledge"):
        key, secret = api_key_create(bot=bot, name="test", scopes=scopes)
        return key, {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    return make


@pytest.fixture
def auth(bot, make_key):
    """Django test-client headers for a key of `bot` with every scope."""
    return make_key(bot)[1]


@contextlib.contextmanager
def _live_server(**extra_env: str):
    """Uvicorn serving the project in a subprocess, on the test database (PostgreSQL only)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{connection.settings_dict['USER']}@{connection.settings_dict['HOST']}:"
            f"{connection.settings_dict['PORT']}/{connection.settings_dict['NAME']}"
        ),
        "SECRET_KEY": "test-secret-key",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "0",
        "SUPPORTBOT_RATE_PER_KEY_PER_MINUTE": "100000",
        "SUPPORTBOT_RATE_PER_IP_PER_MINUTE": "100000",
        # The tests' webhook receiver listens on 127.0.0.1.
        "SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE": "1",
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    with uvicorn_running(port=port, env=env, args=("--log-level", "warning")):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def live_server_url(transactional_db):
    with _live_server() as url:
        yield url


@pytest.fixture
def live_debug_server_url(transactional_db):
    """The same with DEBUG on: static files straight from the apps, no collectstatic needed."""
    with _live_server(DEBUG="1", CELERY_TASK_ALWAYS_EAGER="1") as url:
        yield url
