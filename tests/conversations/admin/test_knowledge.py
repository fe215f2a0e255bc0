"""Articles and FAQ entries in the admin: saved through the domain, drafts published by action."""

from conversations.models import Article, FaqEntry
from tests import factories


def form(bot, **overrides):
    data = {
        "bot": bot.pk,
        "title": "Gift cards",
        "body": "# Gift cards\n\n## Expiry\n\nThey never expire.",
        "body_format": "markdown",
        "source": "gift-cards",
        "url": "",
        "locale": "en",
        "is_published": "on",
    }
    data.update(overrides)
    return data


def test_an_article_is_added_and_edited_through_versions(admin_client, bot):
    added = admin_client.post("/admin/conversations/article/add/", form(bot))
    assert added.status_code == 302, added.content.decode()[:2000]
    article = Article.objects.get()
    assert (article.version, article.text) == (1, "Expiry\n\nThey never expire.")

    page = admin_client.get(f"/admin/conversations/article/{article.pk}/change/")
    assert f"/help/{bot.slug}/{article.pk}/" in page.content.decode()
    data = form(bot, body="# Gift cards\n\n## Expiry\n\nThey expire after five years.")
    data.pop("bot")
    edited = admin_client.post(f"/admin/conversations/article/{article.pk}/change/", data)
    assert edited.status_code == 302
    article.refresh_from_db()
    assert article.version == 2 and "five years" in article.text


def test_an_article_without_text_is_refused_in_the_form(admin_client, bot):
    page = admin_client.post(
        "/admin/conversations/article/add/", form(bot, body="<p> </p>", body_format="html")
    )
    assert page.status_code == 200 and "the body has no text" in page.content.decode()
    assert not Article.objects.exists()


def test_drafted_entries_are_listed_and_published_by_action(admin_client, bot):
    conversation = factories.conversation_create(bot=bot)
    draft = FaqEntry.objects.create(
        bot=bot, question="Q?", answer="A.", is_published=False, drafted_from=conversation
    )
    listing = admin_client.get("/admin/conversations/faqentry/?is_published__exact=0")
    assert "Q?" in listing.content.decode()
    admin_client.post(
        "/admin/conversations/faqentry/",
        {"action": "publish", "_selected_action": [draft.pk]},
    )
    draft.refresh_from_db()
    assert draft.is_published


def test_an_faq_entry_s_phrasings_and_tags_are_edited_one_per_line(admin_client, bot):
    entry = FaqEntry.objects.create(
        bot=bot,
        question="Do you ship abroad?",
        answer="Yes, to 30 countries.",
        alternatives=["International shipping?", "Ship to Canada?"],
        tags=["shipping"],
    )
    url = f"/admin/conversations/faqentry/{entry.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "International shipping?\nShip to Canada?</textarea>" in page
    assert '["' not in page.split('name="alternatives"')[1].split("</textarea>")[0]
    response = admin_client.post(
        url,
        {
            "bot": bot.pk,
            "question": "Do you ship abroad?",
            "answer": "Yes, to 30 countries.",
            "alternatives": "International shipping?\r\n\r\n  Do you deliver to the UK?  \r\n",
            "tags": "shipping\r\ninternational",
            "is_published": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry.refresh_from_db()
    assert entry.alternatives == ["International shipping?", "Do you deliver to the UK?"]
    assert entry.tags == ["shipping", "international"]
