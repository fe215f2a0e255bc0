"""Webhooks: signed, one delivery per event and endpoint, logged, retried with backoff."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from conversations.domain.conversation import conversation_start
from conversations.domain.messages import message_append
from conversations.domain.status import conversation_close, conversation_rate, handoff_request
from conversations.domain.webhooks import (
    SIGNATURE_HEADER,
    webhook_backoff,
    webhook_signature_header,
    webhook_signature_verify,
)
from conversations.models import MessageRole, WebhookDelivery, WebhookEndpoint
from tests import factories
from tests.conftest import requires_postgres, requires_redis

ROOT = Path(__file__).resolve().parents[3]


def verified(secret: str, received) -> bool:
    return webhook_signature_verify(
        secret=secret, header=received.headers[SIGNATURE_HEADER], body=received.body
    )


def test_signature_round_trip_and_tampering():
    body = b'{"event":"message.created"}'
    header = webhook_signature_header(secret="whsec_x", body=body)
    assert header.startswith("t=") and ",v1=" in header
    assert webhook_signature_verify(secret="whsec_x", header=header, body=body)
    assert not webhook_signature_verify(secret="whsec_y", header=header, body=body)
    assert not webhook_signature_verify(secret="whsec_x", header=header, body=body + b" ")
    old = webhook_signature_header(secret="whsec_x", body=body, timestamp=int(time.time()) - 3600)
    assert not webhook_signature_verify(secret="whsec_x", header=old, body=body)
    assert not webhook_signature_verify(secret="whsec_x", header="garbage", body=body)


def test_backoff_doubles():
    with override_settings(SUPPORTBOT_WEBHOOK_BACKOFF_SECONDS=30):
        assert [webhook_backoff(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_every_domain_event_reaches_the_endpoint_signed(
    bot, receiver, eager_tasks, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url)
    customer = factories.customer_create(bot=bot, email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        conversation, _ = conversation_start(bot=bot, customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hi")
    with django_capture_on_commit_callbacks(execute=True):
        handoff_request(conversation_id=conversation.pk, summary="refund")
    with django_capture_on_commit_callbacks(execute=True):
        conversation_close(conversation_id=conversation.pk, closed_by="agent")
    with django_capture_on_commit_callbacks(execute=True):
        conversation_rate(conversation_id=conversation.pk, rating=4, comment="fine")

    received = receiver.wait_for(5)
    events = [r.payload["event"] for r in received]
    assert events == [
        "conversation.created",
        "message.created",
        "handoff.requested",
        "conversation.closed",
        "rating.received",
    ]
    assert all(verified(endpoint.secret, r) for r in received)
    assert all(r.headers["Supportbot-Event"] == r.payload["event"] for r in received)
    first = received[0].payload
    assert first["data"]["conversation"]["id"] == str(conversation.pk)
    assert first["data"]["conversation"]["customer"]["email"] == "ann@example.com"
    assert received[1].payload["data"]["message"]["text"] == "hi"
    assert received[2].payload["data"]["summary"] == "refund"
    assert received[4].payload["data"]["rating"] == 4
    log = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert log.count() == 5
    assert all(d.delivered_at and d.status_code == 200 and d.attempt == 1 for d in log)


def test_endpoints_get_only_the_events_they_chose(
    bot, receiver, eager_tasks, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.create(bot=bot, url=receiver.url, events=["conversation.closed"])
    WebhookEndpoint.objects.create(bot=bot, url=receiver.url, active=False)
    other_bot = factories.bot_create()
    WebhookEndpoint.objects.create(bot=other_bot, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        conversation = factories.conversation_create(bot=bot)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_close(conversation_id=conversation.pk)
    time.sleep(0.2)
    assert [r.payload["event"] for r in receiver.received] == ["conversation.closed"]


def test_nothing_is_sent_for_a_rolled_back_change(bot, receiver, eager_tasks):
    WebhookEndpoint.objects.create(bot=bot, url=receiver.url)
    conversation = factories.conversation_create(bot=bot)
    receiver.received.clear()
    conversation_close(conversation_id=conversation.pk)  # the test's transaction never commits
    time.sleep(0.1)
    assert receiver.received == [] and not WebhookDelivery.objects.exists()


def test_a_failing_endpoint_is_logged(
    bot, receiver, eager_tasks, django_capture_on_commit_callbacks
):
    receiver.statuses = [500]
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        factories.conversation_create(bot=bot)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.attempt == 1 and delivery.status_code == 500
    assert delivery.error == "HTTP 500" and delivery.response_excerpt == "thanks"
    assert delivery.delivered_at is None and delivery.failed_at is not None


def test_an_unreachable_endpoint_is_logged(
    bot, eager_tasks, django_capture_on_commit_callbacks, settings
):
    settings.SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE = True  # a closed local port stands for "down"
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="http://127.0.0.1:9/hooks")
    with django_capture_on_commit_callbacks(execute=True):
        factories.conversation_create(bot=bot)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status_code is None and "ConnectError" in delivery.error


@requires_postgres
@requires_redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_retries_with_exponential_backoff(bot, receiver):
    receiver.statuses = [503, 503, 200]
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url)
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}"
            f"/{settings_dict['NAME']}"
        ),
        "SUPPORTBOT_WEBHOOK_BACKOFF_SECONDS": "0.5",
        "SUPPORTBOT_WEBHOOK_MAX_ATTEMPTS": "5",
        "SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE": "1",  # the receiver listens on 127.0.0.1
        "DB_CONN_MAX_AGE": "0",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "supportbot",
            "worker",
            "-Q",
            "background",
            "-P",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--purge",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        from supportbot.celery import app

        deadline = time.monotonic() + 30
        while not app.control.ping(timeout=0.5) and time.monotonic() < deadline:
            assert worker.poll() is None, "the celery worker died"
        conversation = factories.conversation_create(bot=bot)
        received = receiver.wait_for(3, timeout=45)
        assert len(received) == 3
        assert all(verified(endpoint.secret, r) for r in received)
        assert {r.payload["id"] for r in received} == {received[0].payload["id"]}
        first_gap = received[1].at - received[0].at
        second_gap = received[2].at - received[1].at
        assert first_gap >= 0.45 and second_gap >= 0.95  # 0.5 s, then 1 s
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            delivery = WebhookDelivery.objects.get(endpoint=endpoint)
            if delivery.delivered_at is not None:
                break
            time.sleep(0.1)
        assert delivery.attempt == 3 and delivery.status_code == 200
        assert delivery.next_retry_at is None and delivery.failed_at is None
        assert json.loads(received[-1].body)["data"]["conversation"]["id"] == str(conversation.pk)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@pytest.mark.django_db(transaction=True)
def test_a_streamed_bot_reply_is_announced_once_when_complete(bot, receiver, eager_tasks, settings):
    from asgiref.sync import async_to_sync

    from conversations.engine import reply_stream

    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_OFFLINE_DELAY = 0
    WebhookEndpoint.objects.create(bot=bot, url=receiver.url, events=["message.created"])
    conversation, _ = conversation_start(bot=bot, customer=factories.customer_create(bot=bot))
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hello")

    async def reply() -> list:
        return [event async for event in reply_stream(conversation_id=conversation.pk)]

    done = async_to_sync(reply)()[-1]
    assert done.type == "assistant.done" and done.text

    received = receiver.wait_for(2)
    roles = [r.payload["data"]["message"]["role"] for r in received]
    assert roles == ["customer", "assistant"]
    assert received[1].payload["data"]["message"]["text"] == done.text
