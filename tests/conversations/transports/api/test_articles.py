"""Articles over the API: CRUD, bulk import (all or nothing, rerunnable), scopes and bots."""

import pytest

from conversations.knowledge.passage_search import passage_search
from conversations.models import Article
from tests import factories

ARTICLES = "/api/v1/articles"
pytestmark = pytest.mark.usefixtures("eager_tasks")


def send(client, method, path, body, headers):
    return getattr(client, method)(path, body, content_type="application/json", **headers)


def test_article_crud_indexes_each_version(client, bot, auth):
    body = {"title": "Gift cards", "body": "# Gift cards\n\n## Expiry\n\nGift cards never expire."}
    created = send(client, "post", ARTICLES, body, auth)
    assert created.status_code == 201, created.content
    article = created.json()
    assert article["indexed"] is True and article["version"] == 1
    assert article["source"].startswith("api:") and article["format"] == "markdown"
    assert article["link"] == f"/help/{bot.slug}/{article['id']}/"
    assert article["text"] == "Expiry\n\nGift cards never expire."

    patched = send(
        client, "patch", f"{ARTICLES}/{article['id']}",
        {"body": "# Gift cards\n\n## Expiry\n\nGift cards expire after 5 years."}, auth,
    )  # fmt: skip
    assert patched.status_code == 200 and patched.json()["version"] == 2
    hit = passage_search(bot_id=bot.pk, question="when do gift cards expire").matches[0]
    assert "5 years" in hit.text and hit.heading == "Expiry"
    unchanged = send(client, "patch", f"{ARTICLES}/{article['id']}", {"locale": "en"}, auth)
    assert unchanged.json()["version"] == 2

    listed = client.get(ARTICLES, {"q": "gift"}, **auth).json()
    assert [a["id"] for a in listed["items"]] == [article["id"]] and listed["total"] == 1
    assert client.delete(f"{ARTICLES}/{article['id']}", **auth).status_code == 204
    assert client.get(f"{ARTICLES}/{article['id']}", **auth).status_code == 404
    assert not passage_search(bot_id=bot.pk, question="when do gift cards expire").matches


def test_bad_articles_are_refused_and_sources_are_unique(client, bot, auth):
    empty = send(
        client, "post", ARTICLES, {"title": "T", "body": "<p> </p>", "format": "html"}, auth
    )
    assert empty.status_code == 422 and "no text" in empty.json()["error"]["message"]
    bad_url = send(
        client, "post", ARTICLES, {"title": "T", "body": "b", "url": "javascript:x"}, auth
    )
    assert bad_url.status_code == 422
    first = send(client, "post", ARTICLES, {"title": "A", "body": "a", "source": "kb-1"}, auth)
    assert first.status_code == 201
    again = send(client, "post", ARTICLES, {"title": "B", "body": "b", "source": "kb-1"}, auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_source"
    assert Article.objects.count() == 1


def test_bulk_import_is_all_or_nothing_rerunnable_and_replaces(client, bot, auth):
    factories.article_create(bot=bot, body="Old.", source="old")
    export = [
        {"id": 1, "title": "Track", "body": "<p>Use the link.</p>", "html_url": "https://h/1"},
        {"id": 2, "title": "Draft", "body": "<p>Soon.</p>", "draft": True},
    ]
    bad = send(client, "post", f"{ARTICLES}/import", {"articles": [*export, {"title": "x"}]}, auth)
    assert bad.status_code == 422 and "articles[2]" in bad.json()["error"]["message"]
    assert Article.objects.count() == 1

    done = send(client, "post", f"{ARTICLES}/import", {"articles": export, "replace": True}, auth)
    assert done.status_code == 200, done.content
    assert (done.json()["created"], done.json()["deleted"]) == (2, 1)
    again = send(client, "post", f"{ARTICLES}/import", {"articles": export}, auth).json()
    assert (again["created"], again["updated"], again["details"]["articles"]["unchanged"]) == (
        0,
        0,
        2,
    )
    assert not Article.objects.get(title="Draft").is_published


def test_articles_need_the_knowledge_scope_and_stay_in_their_bot(client, bot, auth, make_key):
    _, chat_only = make_key(bot, scopes="chat,read")
    assert client.get(ARTICLES, **chat_only).status_code == 403
    theirs = factories.article_create(bot=factories.bot_create(), body="Theirs.")
    assert client.get(f"{ARTICLES}/{theirs.pk}", **auth).status_code == 404
    assert send(client, "patch", f"{ARTICLES}/{theirs.pk}", {"title": "x"}, auth).status_code == 404
    assert client.delete(f"{ARTICLES}/{theirs.pk}", **auth).status_code == 404
    assert Article.objects.filter(pk=theirs.pk).exists()
