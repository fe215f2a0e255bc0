"""Admin and command for API keys: the secret is shown once; the delivery log is read-only."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from conversations.edge.apikeys import api_key_authenticate
from conversations.models import ApiKey, WebhookDelivery, WebhookEndpoint


def test_create_api_key_command_prints_the_secret_once(bot):
    out, err = StringIO(), StringIO()
    call_command("create_api_key", bot=bot.slug, scopes="chat,read", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    key = api_key_authenticate(secret=secret)
    assert key is not None and key.bot == bot and key.scopes == ["chat", "read"]
    assert secret not in err.getvalue()


@pytest.mark.parametrize("options", [{"bot": "nope"}, {"scopes": "chat,admin"}])
def test_create_api_key_command_refuses_bad_input(bot, options):
    with pytest.raises(CommandError):
        call_command("create_api_key", **{"bot": bot.slug, **options}, stdout=StringIO())


@pytest.fixture
def admin_client_logged_in(client, db, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_creates_a_key_and_shows_its_secret_once(admin_client_logged_in, bot):
    response = admin_client_logged_in.post(
        "/admin/conversations/apikey/add/",
        {"bot": bot.pk, "name": "help center", "scopes": ["chat", "read"]},
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="help center")
    assert key.scopes == ["chat", "read"]
    shown = [str(m) for m in response.context["messages"]]
    secret = next(m.split(": ", 1)[1] for m in shown if "sbk_" in m)
    assert api_key_authenticate(secret=secret) == key
    page = admin_client_logged_in.get(f"/admin/conversations/apikey/{key.pk}/change/")
    assert secret not in page.content.decode() and key.prefix in page.content.decode()


def test_admin_lists_webhook_deliveries(admin_client_logged_in, bot):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://example.com/hooks")
    WebhookDelivery.objects.create(
        endpoint=endpoint, event="message.created", payload={}, attempt=2, status_code=500
    )
    page = admin_client_logged_in.get("/admin/conversations/webhookdelivery/")
    assert page.status_code == 200 and "message.created" in page.content.decode()
    endpoint_page = admin_client_logged_in.get(
        f"/admin/conversations/webhookendpoint/{endpoint.pk}/change/"
    )
    assert endpoint_page.status_code == 200


def test_admin_adds_a_webhook_endpoint_with_chosen_events(admin_client_logged_in, bot):
    response = admin_client_logged_in.post(
        "/admin/conversations/webhookendpoint/add/",
        {
            "bot": bot.pk,
            "url": "https://example.com/hooks",
            "events": ["message.created", "rating.received"],
            "active": "on",
            "secret": "whsec_test",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["message.created", "rating.received"]
