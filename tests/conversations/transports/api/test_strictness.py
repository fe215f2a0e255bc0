"""The API takes only what its schema says (the schemathesis `--checks all` findings)."""

import json
import uuid

import pytest

from conversations.models import Conversation, FaqEntry

API = "/api/v1"


def send(client, method, path, body, auth):
    return getattr(client, method)(
        f"{API}{path}", data=json.dumps(body), content_type="application/json", **auth
    )


def test_a_conversation_body_must_be_an_object(client, bot, auth):
    response = send(client, "post", "/conversations", [None, None], auth)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"]
    assert Conversation.objects.count() == 0


def test_a_handoff_body_must_be_an_object(client, bot, auth):
    conversation = send(client, "post", "/conversations", {}, auth).json()
    response = send(client, "post", f"/conversations/{conversation['id']}/handoff", "help", auth)
    assert response.status_code == 400, response.content
    assert Conversation.objects.get().status == "bot"


@pytest.mark.parametrize("value", ["0.5", "1700000000", "true"])
def test_dates_in_filters_are_iso_8601_not_numbers(client, bot, auth, value):
    response = client.get(f"{API}/conversations", {"created_before": value}, **auth)
    assert response.status_code == 422, response.content


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_booleans_are_true_or_false(client, bot, auth, value):
    body = {"question": "Q?", "answer": "A.", "is_published": value}
    response = send(client, "post", "/faq", body, auth)
    assert response.status_code == 422, response.content
    assert FaqEntry.objects.count() == 0


@pytest.mark.parametrize(
    "path",
    [
        "/conversations/not-a-uuid",
        "/conversations/not-a-uuid/messages",
        f"/conversations/{uuid.uuid4()}/nothing-here",
        "/faq/not-a-number",
        "/no-such-endpoint",
    ],
)
def test_unknown_paths_answer_json_404(client, bot, auth, path):
    response = client.get(f"{API}{path}", **auth)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"


def test_the_schema_documents_413_and_the_text_rule(client):
    schema = client.get("/api/schema/").json()
    post = schema["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert "413" in post["responses"]
    assert "NUL" in json.dumps(schema)
