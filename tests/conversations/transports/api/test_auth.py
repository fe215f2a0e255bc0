"""API keys: missing, wrong, revoked, wrong scope, another bot's conversation, rate limits."""

import pytest
from django.test import override_settings

from conversations.edge.apikeys import api_key_authenticate, api_key_create, api_key_revoke
from tests import factories

CONVERSATIONS = "/api/v1/conversations"


def error_code(response) -> str:
    return response.json()["error"]["code"]


def test_missing_key_is_401_with_a_stable_code(client, db):
    response = client.get(CONVERSATIONS)
    assert response.status_code == 401
    assert error_code(response) == "unauthenticated"
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header", ["Bearer sbk_nothing_here", "Bearer sbk_abcdefgh_wrong", "Basic Zm9vOmJhcg=="]
)
def test_wrong_key_is_401(client, bot, make_key, header):
    _key, _ = make_key(bot)
    response = client.get(CONVERSATIONS, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert error_code(response) in {"invalid_api_key", "unauthenticated"}


def test_right_prefix_wrong_secret_is_401(client, bot):
    _key, secret = api_key_create(bot=bot, name="k", scopes="read")
    forged = secret[:-4] + ("aaaa" if not secret.endswith("aaaa") else "bbbb")
    response = client.get(CONVERSATIONS, HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401 and error_code(response) == "invalid_api_key"


def test_revoked_key_is_401(client, bot, make_key):
    key, headers = make_key(bot)
    api_key_revoke(key=key)
    response = client.get(CONVERSATIONS, **headers)
    assert response.status_code == 401 and error_code(response) == "api_key_revoked"


def test_wrong_scope_is_403(client, bot, make_key):
    _, chat_only = make_key(bot, scopes="chat")
    assert client.get(CONVERSATIONS, **chat_only).status_code == 403
    assert error_code(client.get(CONVERSATIONS, **chat_only)) == "insufficient_scope"
    assert client.get("/api/v1/faq", **chat_only).status_code == 403
    _, read_only = make_key(bot, scopes="read")
    response = client.post(CONVERSATIONS, {}, content_type="application/json", **read_only)
    assert response.status_code == 403


def test_another_bots_conversation_is_404(client, bot, make_key):
    other_bot = factories.bot_create()
    theirs = factories.conversation_create(bot=other_bot)
    _, headers = make_key(bot)
    for path in (f"{CONVERSATIONS}/{theirs.pk}", f"{CONVERSATIONS}/{theirs.pk}/messages"):
        response = client.get(path, **headers)
        assert response.status_code == 404 and error_code(response) == "not_found"
    response = client.post(
        f"{CONVERSATIONS}/{theirs.pk}/messages",
        {"text": "hi"},
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 404
    listed = client.get(CONVERSATIONS, **headers).json()
    assert listed["total"] == 0


def test_only_a_hash_of_the_secret_is_stored(bot):
    key, secret = api_key_create(bot=bot, name="k", scopes=["chat"])
    key.refresh_from_db()
    assert secret not in (key.secret_hash, key.prefix) and secret.startswith("sbk_" + key.prefix)
    assert api_key_authenticate(secret=secret) == key


def test_last_used_is_recorded(client, bot, make_key):
    key, headers = make_key(bot)
    client.get(CONVERSATIONS, **headers)
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_rate_limit_per_key_answers_429_with_retry_after(client, bot, make_key):
    _, headers = make_key(bot)
    with override_settings(SUPPORTBOT_RATE_PER_KEY_PER_MINUTE=3):
        statuses = [client.get(CONVERSATIONS, **headers).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        response = client.get(CONVERSATIONS, **headers)
    assert error_code(response) == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another key of the same bot has its own budget.
    _, other = make_key(bot)
    with override_settings(SUPPORTBOT_RATE_PER_KEY_PER_MINUTE=3):
        assert client.get(CONVERSATIONS, **other).status_code == 200


def test_rate_limit_per_ip_covers_unauthenticated_calls(client, db):
    with override_settings(SUPPORTBOT_RATE_PER_IP_PER_MINUTE=2):
        statuses = [client.get(CONVERSATIONS).status_code for _ in range(4)]
        assert statuses == [401, 401, 429, 429]
        other_ip = client.get(CONVERSATIONS, REMOTE_ADDR="10.0.0.9")
    assert other_ip.status_code == 401
