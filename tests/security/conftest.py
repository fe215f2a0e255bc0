"""Security fixtures: tools run in-process or on a worker, with the ORM threads closed after."""

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections
from django.test import override_settings


@pytest.fixture(autouse=True)
def close_thread_connections():
    """Async tests use the ORM from asgiref's shared thread: close its connection afterwards
    so PostgreSQL can drop the test database."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def eager():
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        yield
