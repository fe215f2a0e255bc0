"""Celery beat's schedule in-process on the embedded default: the real tasks, on time."""

import logging
import time

import pytest
from django.test import override_settings

from conversations.models import Conversation, ConversationStatus
from supportbot.periodic_tasks import PeriodicTasks, periodic_tasks_start
from tests import factories
from tests.agents_fixtures import chat_create

SWEEP = {"task": "conversations.agents.insights_sweep", "schedule": 0.05}


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def eager():
    """The embedded default's eager tasks (Celery reads its settings once: set them there too)."""
    from supportbot.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=True, SUPPORTBOT_ENGINE="offline"):
            yield
    finally:
        app.conf.task_always_eager = before


@pytest.mark.django_db(transaction=True)
def test_the_insights_sweep_runs_in_process_and_fills_in_topics(eager):
    bot = factories.bot_create()
    closed = chat_create(bot=bot, texts=("Where is my order #W1?",), status="closed")
    assert closed.topic == ""
    runner = PeriodicTasks(schedule={"insights-sweep": SWEEP}, first_delay=0)
    runner.start()
    try:
        assert wait_for(lambda: Conversation.objects.get(pk=closed.pk).topic != "")
        assert wait_for(lambda: runner.runs["insights-sweep"] >= 2)  # and again, on schedule
    finally:
        runner.stop()
    assert not runner.is_alive()
    assert Conversation.objects.get(pk=closed.pk).status == ConversationStatus.CLOSED


@pytest.mark.django_db(transaction=True)
class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.django_db(transaction=True)
def test_a_failing_task_neither_stops_the_others_nor_its_next_run(eager):
    schedule = {"broken": {"task": "no.such.task", "schedule": 0.05}, "insights-sweep": SWEEP}
    runner = PeriodicTasks(schedule=schedule, first_delay=0)
    records, logger = Records(), logging.getLogger("supportbot.periodic_tasks")
    logger.addHandler(records)
    runner.start()
    try:
        assert wait_for(lambda: runner.runs["broken"] >= 2 and runner.runs["insights-sweep"] >= 2)
    finally:
        runner.stop()
        logger.removeHandler(records)
    assert "periodic task broken failed" in records.messages


def test_the_schedule_runs_in_process_only_without_a_broker(settings):
    settings.SUPPORTBOT_PERIODIC_TASKS_IN_PROCESS = False
    assert periodic_tasks_start() is None
    settings.SUPPORTBOT_PERIODIC_TASKS_IN_PROCESS = True
    settings.CELERY_BEAT_SCHEDULE = {}  # nothing to run: the thread starts and idles
    runner = periodic_tasks_start()
    try:
        assert runner is not None and runner.is_alive()
    finally:
        runner.stop()


def test_the_default_follows_eager_tasks():
    import subprocess
    import sys

    from tests.asgi_server import ROOT

    def in_process(**env: str) -> str:
        code = (
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.SUPPORTBOT_PERIODIC_TASKS_IN_PROCESS)"
        )
        base = {"DJANGO_SETTINGS_MODULE": "supportbot.settings", "SECRET_KEY": "x", "PATH": ""}
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**base, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert in_process() == "True"  # the embedded default: no Redis, eager tasks
    assert in_process(REDIS_URL="redis://127.0.0.1:6379/9") == "False"  # celery beat's job
    assert in_process(REDIS_URL="redis://127.0.0.1:6379/9", CELERY_TASK_ALWAYS_EAGER="1") == "True"
