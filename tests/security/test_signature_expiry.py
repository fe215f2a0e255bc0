"""Expiring host signatures: a signature copied from a page stops working, a plain signature is
never a valid expiring one (or the other way round), and a bot can require expiring ones."""

import json
import time

import pytest
from django.test import override_settings

from conversations.edge.apikeys import api_key_create
from conversations.edge.identity import (
    SignatureCheck,
    identity_signature,
    identity_signature_check,
)
from conversations.models import Conversation
from conversations.tools.runs import tool_context_for
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1/conversations"
ORIGIN = "http://testserver"
SECRET = "s3cret"
DAY = 24 * 3600


def check(value, signature, *, now=1_000_000.0, max_ttl=7 * DAY, require_expiry=False):
    return identity_signature_check(
        secret=SECRET,
        value=value,
        signature=signature,
        now=now,
        max_ttl=max_ttl,
        require_expiry=require_expiry,
    )


def test_an_expiring_signature_holds_until_its_expiry_and_not_after():
    signature = identity_signature(secret=SECRET, value="cust-1", expires=1_000_060)

    assert signature.startswith("1000060.")
    assert check("cust-1", signature, now=1_000_000) == SignatureCheck.VALID
    assert check("cust-1", signature, now=1_000_060) == SignatureCheck.EXPIRED
    assert check("cust-1", signature, now=2_000_000) == SignatureCheck.EXPIRED
    assert check("cust-2", signature) == SignatureCheck.INVALID


def test_the_expiry_is_signed_too():
    signature = identity_signature(secret=SECRET, value="cust-1", expires=1_000_060)
    digest = signature.split(".", 1)[1]

    assert check("cust-1", f"1000900.{digest}") == SignatureCheck.INVALID


def test_an_expiry_further_ahead_than_the_limit_is_refused():
    signature = identity_signature(secret=SECRET, value="cust-1", expires=1_000_000 + 30 * DAY)

    assert check("cust-1", signature) == SignatureCheck.TOO_LONG
    assert check("cust-1", signature, max_ttl=31 * DAY) == SignatureCheck.VALID


def test_a_plain_signature_is_refused_only_where_the_bot_requires_expiry():
    plain = identity_signature(secret=SECRET, value="cust-1")

    assert check("cust-1", plain) == SignatureCheck.VALID
    assert check("cust-1", plain, require_expiry=True) == SignatureCheck.NO_EXPIRY
    assert check("cust-1", "", require_expiry=True) == SignatureCheck.MISSING


def test_a_plain_signature_of_a_crafted_value_is_no_expiring_signature_of_another():
    # The host signed (plainly) an odd external id that spells an expiring message for "victim":
    # expiring signatures use a key of their own, so it proves nothing for "victim".
    plain = identity_signature(secret=SECRET, value="9999999999:victim")

    assert check("9999999999:victim", plain) == SignatureCheck.VALID
    assert check("victim", f"9999999999.{plain}", max_ttl=10**10) == SignatureCheck.INVALID


def test_the_expiring_form_is_what_the_docs_tell_hosts_to_compute():
    import hashlib
    import hmac

    key = hmac.new(SECRET.encode(), b"supportbot-identity-v2", hashlib.sha256).digest()
    digest = hmac.new(key, b"1000060:cust-1", hashlib.sha256).hexdigest()

    assert identity_signature(secret=SECRET, value="cust-1", expires=1_000_060) == (
        f"1000060.{digest}"
    )


@pytest.mark.parametrize("garbage", ["1.2", "x" * 128, "12." + "g" * 64, "-5." + "0" * 64, "é"])
def test_garbage_signatures_are_invalid_not_errors(garbage):
    assert check("cust-1", garbage) == SignatureCheck.INVALID


# --- Through the API and the widget.


@pytest.fixture
def chat_key(bot):
    _, secret = api_key_create(bot=bot, name="host", scopes="chat")
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def alice(bot):
    shopper = factories.store_customer_create(bot=bot, external_id="cust-alice")
    return factories.order_create(bot=bot, customer=shopper)


def api_start(client, headers, customer):
    return client.post(API, {"customer": customer}, content_type="application/json", **headers)


def signed(bot, expires):
    return {
        "external_id": "cust-alice",
        "signature": identity_signature(
            secret=bot.identity_secret, value="cust-alice", expires=expires
        ),
    }


def orders_seen(conversation_id):
    from conversations.tools.orders import list_recent_orders

    context = tool_context_for(conversation_id=conversation_id)
    return [o["number"] for o in list_recent_orders(context=context).data.get("orders", [])]


def test_the_api_verifies_a_live_expiring_signature(client, bot, chat_key, alice):
    response = api_start(client, chat_key, signed(bot, int(time.time()) + 600))

    assert response.status_code == 201, response.content
    assert response.json()["customer"]["verified"] is True
    assert orders_seen(response.json()["id"]) == [alice.number]


def test_the_api_refuses_an_expired_signature_and_says_so(client, bot, chat_key):
    response = api_start(client, chat_key, signed(bot, int(time.time()) - 1))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "signature_expired"
    assert Conversation.objects.count() == 0


@override_settings(SUPPORTBOT_IDENTITY_SIGNATURE_MAX_TTL=3600)
def test_the_api_refuses_an_expiry_beyond_the_setting(client, bot, chat_key):
    response = api_start(client, chat_key, signed(bot, int(time.time()) + 7200))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_signature"
    assert "SUPPORTBOT_IDENTITY_SIGNATURE_MAX_TTL" in response.json()["error"]["message"]


def test_a_bot_that_requires_expiry_refuses_a_plain_signature(client, bot, chat_key):
    bot.identity_signatures_expire = True
    bot.save(update_fields=["identity_signatures_expire"])
    plain = identity_signature(secret=bot.identity_secret, value="cust-alice")

    response = api_start(client, chat_key, {"external_id": "cust-alice", "signature": plain})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "signature_expiry_required"
    live = api_start(client, chat_key, signed(bot, int(time.time()) + 600))
    assert live.status_code == 201 and live.json()["customer"]["verified"] is True


def widget_session(client, bot, identity):
    response = client.post(
        f"/widget/{bot.public_key}/session",
        data=json.dumps({"visitor_id": "browser_0123456789abcdef", "identity": identity}),
        content_type="text/plain",
        HTTP_ORIGIN=ORIGIN,
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def test_the_widget_starts_an_expired_identity_unverified_and_says_why(client, bot, alice):
    session = widget_session(client, bot, signed(bot, int(time.time()) - 1))

    assert session["identity"] == {"verified": False, "signature": "expired"}
    assert orders_seen(session["conversation_id"]) == []

    fresh = widget_session(client, bot, signed(bot, int(time.time()) + 600))

    assert fresh["identity"] == {"verified": True, "signature": "valid"}
    assert fresh["conversation_id"] != session["conversation_id"]
    assert orders_seen(fresh["conversation_id"]) == [alice.number]
