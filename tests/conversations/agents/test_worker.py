"""The background jobs on a real `celery worker` process (Redis broker, PostgreSQL)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.agents.tasks import insights_sweep, retention_apply_task
from conversations.domain.status import conversation_close
from conversations.models import Conversation
from tests.agents_fixtures import chat_create
from tests.celery_worker import celery_worker_running
from tests.conftest import requires_postgres, requires_redis

pytestmark = [
    requires_redis,
    requires_postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    """A worker on the "background" queue that uses this test run's database."""
    with celery_worker_running(
        queue="background", name="agents-test", env={"SUPPORTBOT_ENGINE": "offline"}
    ) as process:
        yield process


def _until(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_worker_writes_insights_for_a_closed_conversation(worker, bot):
    conversation = chat_create(bot=bot, texts=["I want a refund for my kettle"])
    conversation_close(conversation_id=conversation.pk, closed_by="customer")
    insights_sweep.delay()  # the beat schedule's job: queues a batch, the worker writes it

    def written():
        return Conversation.objects.filter(pk=conversation.pk).exclude(topic="").exists()

    assert _until(written), "the worker did not write the insights"
    conversation.refresh_from_db()
    assert conversation.topic == "returns and refunds" and conversation.title


def test_worker_applies_retention(worker, bot):
    bot.retention_days = 30
    bot.save()
    old = chat_create(bot=bot, email="old@example.com")
    Conversation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    retention_apply_task.delay()

    def anonymised():
        return Conversation.objects.filter(pk=old.pk, anonymised_at__isnull=False).exists()

    assert _until(anonymised), "the worker did not apply retention"
