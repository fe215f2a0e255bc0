"""Setting up from the docs page with the admin's login: keys and webhook endpoints."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from conversations.models import ApiKey, WebhookDelivery, WebhookEndpoint


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


def test_staff_creates_a_key_and_uses_it(client, bot, staff):
    client.force_login(staff)
    response = client.post(
        f"/api/v1/bots/{bot.slug}/keys",
        {"name": "app", "scopes": ["chat", "read"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith("sbk_" + created["prefix"])
    listed = client.get(f"/api/v1/bots/{bot.slug}/keys").json()
    assert [k["prefix"] for k in listed] == [created["prefix"]] and "secret" not in listed[0]

    api = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {created['secret']}"}
    assert api.get("/api/v1/conversations", **auth).status_code == 200
    revoked = client.post(f"/api/v1/bots/{bot.slug}/keys/{created['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert api.get("/api/v1/conversations", **auth).status_code == 401


def test_staff_registers_a_webhook_and_reads_its_deliveries(client, bot, staff):
    client.force_login(staff)
    response = client.post(
        f"/api/v1/bots/{bot.slug}/webhooks",
        {"url": "https://example.com/hooks", "events": ["message.created"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    endpoint = response.json()
    assert endpoint["secret"].startswith("whsec_") and endpoint["events"] == ["message.created"]
    WebhookDelivery.objects.create(
        endpoint_id=endpoint["id"], event="message.created", payload={"x": 1}, attempt=1
    )
    deliveries = client.get(f"/api/v1/bots/{bot.slug}/webhooks/{endpoint['id']}/deliveries")
    assert deliveries.status_code == 200 and deliveries.json()[0]["payload"] == {"x": 1}
    bad = client.post(
        f"/api/v1/bots/{bot.slug}/webhooks",
        {"url": "not a url", "events": ["nope"]},
        content_type="application/json",
    )
    assert bad.status_code == 422


def test_setup_needs_a_staff_login_and_a_csrf_token(bot, db):
    anonymous = Client()
    response = anonymous.post(
        f"/api/v1/bots/{bot.slug}/keys", {"scopes": ["chat"]}, content_type="application/json"
    )
    assert response.status_code == 401
    customer = get_user_model().objects.create_user("joe", password="pw")
    plain = Client()
    plain.force_login(customer)
    assert plain.get(f"/api/v1/bots/{bot.slug}/keys").status_code == 401
    staff = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    response = strict.post(
        f"/api/v1/bots/{bot.slug}/keys", {"scopes": ["chat"]}, content_type="application/json"
    )
    assert response.status_code in (401, 403)
    assert not ApiKey.objects.exists() and not WebhookEndpoint.objects.exists()


def test_unknown_bot_is_404(client, staff, db):
    client.force_login(staff)
    assert client.get("/api/v1/bots/nope/keys").status_code == 404
