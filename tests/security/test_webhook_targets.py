"""Webhook URLs cannot reach loopback, private or link-local addresses (SSRF)."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings

from conversations.admin.apikeys import WebhookEndpointForm
from conversations.domain.webhooks import webhook_attempt
from conversations.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

INSIDE = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one number
]


@pytest.fixture
def staff_client(client, db):
    staff = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(staff)
    return client


@pytest.mark.parametrize("url", INSIDE)
def test_the_api_refuses_inside_addresses(staff_client, bot, url):
    assert not settings.SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE  # the default
    response = staff_client.post(
        f"/api/v1/bots/{bot.slug}/webhooks", {"url": url}, content_type="application/json"
    )
    assert response.status_code == 422, response.content
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", INSIDE[:4])
def test_the_admin_refuses_inside_addresses(bot, url):
    form = WebhookEndpointForm(data={"bot": bot.pk, "url": url, "active": True, "secret": "s"})
    assert not form.is_valid() and "url" in form.errors


def test_delivery_refuses_an_inside_address_saved_earlier(bot, receiver, settings):
    settings.SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE = False
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url)  # 127.0.0.1
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event="message.created", payload={}
    )
    webhook_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert receiver.received == []
    assert delivery.delivered_at is None and "not allowed" in delivery.error


def test_the_setting_allows_inside_addresses(bot, receiver):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event="message.created", payload={}
    )
    with override_settings(SUPPORTBOT_WEBHOOK_ALLOW_PRIVATE=True):
        webhook_attempt(delivery_id=delivery.pk)
        form = WebhookEndpointForm(
            data={"bot": bot.pk, "url": receiver.url, "active": True, "secret": "s"}
        )
        assert form.is_valid(), form.errors
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None and len(receiver.received) == 1
