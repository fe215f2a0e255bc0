"""FAQ entries over the API: list, create, update, delete, bulk import; scopes and bots."""

from conversations.models import FaqEntry
from tests import factories

FAQ = "/api/v1/faq"


def send(client, method, path, body, headers):
    return getattr(client, method)(path, body, content_type="application/json", **headers)


def test_faq_crud(client, bot, auth):
    created = send(
        client, "post", FAQ, {"question": "Do you ship abroad?", "answer": "Yes, to the EU."}, auth
    )
    assert created.status_code == 201, created.content
    entry = created.json()
    assert entry["is_published"] is True and entry["alternatives"] == []
    duplicate = send(client, "post", FAQ, {"question": "Do you ship abroad?", "answer": "x"}, auth)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "duplicate_question"

    patched = send(client, "patch", f"{FAQ}/{entry['id']}", {"tags": ["shipping"]}, auth)
    assert patched.status_code == 200 and patched.json()["tags"] == ["shipping"]
    assert patched.json()["answer"] == "Yes, to the EU."

    listed = client.get(FAQ, {"tag": "shipping"}, **auth).json()
    assert [e["id"] for e in listed["items"]] == [entry["id"]] and listed["total"] == 1
    assert client.get(FAQ, {"q": "abroad"}, **auth).json()["total"] == 1
    assert client.get(FAQ, {"q": "refund"}, **auth).json()["total"] == 0

    deleted = client.delete(f"{FAQ}/{entry['id']}", **auth)
    assert deleted.status_code == 204
    assert client.get(f"{FAQ}/{entry['id']}", **auth).status_code == 404


def test_another_bots_faq_entry_is_404(client, bot, auth):
    theirs = FaqEntry.objects.create(bot=factories.bot_create(), question="q", answer="a")
    assert client.get(f"{FAQ}/{theirs.pk}", **auth).status_code == 404
    assert client.delete(f"{FAQ}/{theirs.pk}", **auth).status_code == 404
    assert FaqEntry.objects.filter(pk=theirs.pk).exists()


def test_bulk_import_creates_updates_and_replaces(client, bot, auth):
    FaqEntry.objects.create(bot=bot, question="Old question", answer="old")
    FaqEntry.objects.create(bot=bot, question="Returns?", answer="30 days")
    body = {
        "entries": [
            {"question": "Returns?", "answer": "60 days now"},
            {"question": "Gift cards?", "answer": "Yes", "tags": ["payments"]},
        ]
    }
    first = send(client, "post", f"{FAQ}/import", body, auth).json()
    assert (first["created"], first["updated"], first["deleted"]) == (1, 1, 0)
    again = send(client, "post", f"{FAQ}/import", {**body, "replace": True}, auth).json()
    assert (again["created"], again["updated"], again["deleted"]) == (0, 0, 1)
    stored = dict(FaqEntry.objects.filter(bot=bot).values_list("question", "answer"))
    assert stored == {"Returns?": "60 days now", "Gift cards?": "Yes"}


def test_knowledge_needs_its_scope(client, bot, make_key):
    _, headers = make_key(bot, scopes="chat,read")
    assert client.get(FAQ, **headers).status_code == 403
    response = send(client, "post", f"{FAQ}/import", {"entries": []}, headers)
    assert response.status_code == 403


def _demo_store() -> dict:
    import json
    from pathlib import Path

    import conversations

    return json.loads((Path(conversations.__file__).parent / "demo" / "store.json").read_text())


def test_order_import_is_idempotent_and_checks_first(client, bot, auth):
    from conversations.models import Order, StoreCustomer

    document = _demo_store()
    dry = send(client, "post", "/api/v1/orders/import?dry_run=true", document, auth)
    assert dry.status_code == 200, dry.content
    assert dry.json()["details"]["dry_run"] is True and not Order.objects.exists()

    first = send(client, "post", "/api/v1/orders/import", document, auth).json()
    assert first["created"] > 0 and first["details"]["orders"]["created"] == 30
    assert Order.objects.filter(bot=bot).count() == 30
    again = send(client, "post", "/api/v1/orders/import", document, auth).json()
    assert (again["created"], again["updated"]) == (0, 0)
    assert again["details"]["orders"]["unchanged"] == 30

    broken = {**document, "orders": [{**document["orders"][0], "lines": "nope"}]}
    StoreCustomer.objects.all().delete()
    refused = send(client, "post", "/api/v1/orders/import", broken, auth)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_import"
    assert not StoreCustomer.objects.exists()


def test_faq_import_dry_run_stores_nothing(client, bot, auth):
    body = {"entries": [{"question": "Q?", "answer": "A."}], "dry_run": True}
    response = send(client, "post", f"{FAQ}/import", body, auth).json()
    assert response["created"] == 1 and response["details"]["dry_run"] is True
    assert not FaqEntry.objects.exists()
