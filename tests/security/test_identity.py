"""Hostile clients against identity: a client-chosen id, an unsigned email and a reused browser
never make anybody a verified customer (issue 11, holes 1, 5 and 7)."""

import json

import pytest

from conversations.edge.apikeys import api_key_create
from conversations.edge.identity import identity_signature
from conversations.models import Conversation
from conversations.tools.orders import get_order, list_recent_orders
from conversations.tools.runs import tool_context_for
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1/conversations"
ORIGIN = "http://testserver"
BROWSER = "browser_0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def chat_key(bot):
    """Headers for a key of `bot` with only the `chat` scope: what a hostile client holds."""
    _, secret = api_key_create(bot=bot, name="attacker", scopes="chat")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def alice(bot):
    """A store customer with a signed-in account (external id) and one order."""
    shopper = factories.store_customer_create(
        bot=bot, external_id="cust-alice", email="alice@example.com"
    )
    order = factories.order_create(bot=bot, customer=shopper)
    return shopper, order


@pytest.fixture
def guest_order(bot):
    """An order placed as a guest: the store knows its owner only by email."""
    shopper = factories.store_customer_create(bot=bot, external_id="", email="victim@example.com")
    return factories.order_create(bot=bot, customer=shopper)


def signed(bot, **identity):
    value = identity.get("external_id") or identity.get("email", "")
    return {**identity, "signature": identity_signature(secret=bot.identity_secret, value=value)}


def api_start(client, headers, body):
    return client.post(API, body, content_type="application/json", **headers)


def widget_session(client, bot, **body):
    response = client.post(
        f"/widget/{bot.public_key}/session",
        data=json.dumps({"visitor_id": BROWSER, **body}),
        content_type="text/plain",
        HTTP_ORIGIN=ORIGIN,
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def orders_seen(conversation_id) -> list[str]:
    context = tool_context_for(conversation_id=conversation_id)
    return [o["number"] for o in list_recent_orders(context=context).data.get("orders", [])]


# --- Hole 1: a visitor id is not a credential.


@pytest.mark.parametrize("visitor_id", ["ext:cust-alice", "email:alice@example.com", "EXT:x"])
def test_the_verified_namespaces_cannot_be_chosen_by_a_client(client, bot, chat_key, visitor_id):
    real = api_start(client, chat_key, {"customer": signed(bot, external_id="cust-alice")})
    assert real.json()["customer"]["verified"] is True

    forged = api_start(client, chat_key, {"visitor_id": visitor_id})

    assert forged.status_code == 422
    assert Conversation.objects.count() == 1


def test_an_unsigned_visitor_id_of_a_verified_customer_gets_nobody(client, bot, chat_key, alice):
    _, order = alice
    real = widget_session(client, bot, identity=signed(bot, external_id="cust-alice"))
    assert orders_seen(real["conversation_id"]) == [order.number]

    # The browser's id leaked (or was guessed): the attacker presents it with no signature.
    forged = api_start(client, chat_key, {"visitor_id": BROWSER})

    assert forged.status_code == 201
    assert forged.json()["customer"] == {
        "email": "",
        "external_id": "",
        "name": "",
        "verified": False,
        "verified_by": "",
    }
    assert orders_seen(forged.json()["id"]) == []
    context = tool_context_for(conversation_id=forged.json()["id"])
    assert get_order(context=context, order_number=order.number).data["error"]


def test_a_visitor_pre_created_before_the_customer_verifies_stays_anonymous(
    client, bot, chat_key, alice
):
    _, order = alice
    planted = api_start(client, chat_key, {"visitor_id": "shared-visitor-1"}).json()

    # Later the real customer verifies with the same visitor id (the host's backend uses it).
    real = api_start(
        client,
        chat_key,
        {"visitor_id": "shared-visitor-1", "customer": signed(bot, external_id="cust-alice")},
    ).json()

    assert real["customer"]["verified"] is True
    assert orders_seen(real["id"]) == [order.number]
    assert orders_seen(planted["id"]) == []
    again = client.get(f"{API}/{planted['id']}", **chat_key).json()
    assert again["customer"]["verified"] is False


def test_a_bad_signature_is_refused_rather_than_ignored(client, bot, chat_key):
    forged = api_start(
        client, chat_key, {"customer": {"external_id": "cust-alice", "signature": "0" * 64}}
    )
    assert forged.status_code == 422
    assert forged.json()["error"]["code"] == "invalid_signature"
    assert Conversation.objects.count() == 0


# --- Hole 5: only the signed value is verified.


def test_an_unsigned_email_next_to_a_signed_id_grants_nothing(client, bot, chat_key, guest_order):
    factories.store_customer_create(bot=bot, external_id="cust-mallory", email="m@example.com")
    identity = {**signed(bot, external_id="cust-mallory"), "email": "victim@example.com"}

    body = api_start(client, chat_key, {"customer": identity}).json()

    assert body["customer"]["verified"] is True
    assert body["customer"]["verified_by"] == "external_id"
    context = tool_context_for(conversation_id=body["id"])
    assert context.email == "" and context.external_id == "cust-mallory"
    assert orders_seen(body["id"]) == []
    assert get_order(context=context, order_number=guest_order.number).data["error"]


def test_the_widget_treats_an_unsigned_email_the_same_way(client, bot, guest_order):
    identity = {**signed(bot, external_id="cust-mallory"), "email": "victim@example.com"}
    session = widget_session(client, bot, identity=identity)

    context = tool_context_for(conversation_id=session["conversation_id"])
    assert context.verified and context.email == ""
    assert orders_seen(session["conversation_id"]) == []


def test_the_admin_shows_only_the_signed_value_as_verified(admin_client, client, bot, chat_key):
    identity = {**signed(bot, external_id="cust-mallory"), "email": "victim@example.com"}
    body = api_start(client, chat_key, {"customer": identity}).json()

    page = admin_client.get(f"/admin/conversations/conversation/{body['id']}/change/")

    text = page.content.decode()
    assert "cust-mallory ✓" in text
    assert "victim@example.com ✓" not in text
    assert "victim@example.com (unverified)" in text
    # The agent console's customer panel: a badge per field.
    console = admin_client.get(f"/agents/conversations/{body['id']}/").content.decode()
    assert 'cust-mallory <span class="badge verified"' in console
    assert 'victim@example.com <span class="badge unverified"' in console


# --- Hole 7: verification belongs to the session that presented it.


def test_a_new_session_without_identity_is_not_verified(client, bot, alice):
    _, order = alice
    signed_in = widget_session(client, bot, identity=signed(bot, external_id="cust-alice"))
    assert orders_seen(signed_in["conversation_id"]) == [order.number]

    # Same browser, the customer logged out on the host page: no identity.
    fresh = widget_session(client, bot, new=True)
    assert orders_seen(fresh["conversation_id"]) == []
    assert tool_context_for(conversation_id=fresh["conversation_id"]).verified is False


def test_resuming_without_identity_starts_an_anonymous_conversation(client, bot, alice):
    signed_in = widget_session(client, bot, identity=signed(bot, external_id="cust-alice"))

    resumed = widget_session(
        client, bot, conversation_id=signed_in["conversation_id"], token=signed_in["token"]
    )

    assert resumed["resumed"] is False
    assert resumed["conversation_id"] != signed_in["conversation_id"]
    assert orders_seen(resumed["conversation_id"]) == []


def test_another_identity_does_not_resume_someone_elses_conversation(client, bot, alice):
    a = widget_session(client, bot, identity=signed(bot, external_id="cust-alice"))
    b_identity = signed(bot, external_id="cust-bob")

    b = widget_session(
        client, bot, conversation_id=a["conversation_id"], token=a["token"], identity=b_identity
    )

    assert b["resumed"] is False and b["conversation_id"] != a["conversation_id"]
    owner = Conversation.objects.select_related("customer").get(pk=a["conversation_id"]).customer
    assert owner.external_id == "cust-alice"
    assert tool_context_for(conversation_id=b["conversation_id"]).external_id == "cust-bob"


def test_the_same_identity_resumes_its_conversation(client, bot, alice):
    identity = signed(bot, external_id="cust-alice")
    first = widget_session(client, bot, identity=identity)

    again = widget_session(
        client,
        bot,
        conversation_id=first["conversation_id"],
        token=first["token"],
        identity=identity,
    )

    assert again["resumed"] is True and again["conversation_id"] == first["conversation_id"]
    assert again["visitor_id"] == BROWSER


def test_signing_in_mid_chat_starts_a_verified_conversation(client, bot, alice):
    _, order = alice
    anonymous = widget_session(client, bot)

    signed_in = widget_session(
        client,
        bot,
        conversation_id=anonymous["conversation_id"],
        token=anonymous["token"],
        identity=signed(bot, external_id="cust-alice"),
    )

    assert signed_in["conversation_id"] != anonymous["conversation_id"]
    assert orders_seen(signed_in["conversation_id"]) == [order.number]
    assert orders_seen(anonymous["conversation_id"]) == []
