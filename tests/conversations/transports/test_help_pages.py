"""The product's own article pages: published articles only, rendered from clean text."""

from conversations.models import Article
from tests import factories


def test_an_article_page_shows_its_sections_with_anchors(client, bot):
    article = factories.article_create(
        bot=bot,
        title="Returns",
        body="<h1>Returns</h1><p>Within 30 days.</p><h2>Refunds</h2>"
        "<p>In 5 days.<script>alert(1)</script><img src=x onerror=alert(2)></p>",
        body_format="html",
    )
    page = client.get(f"/help/{bot.slug}/{article.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<h2 id="refunds">Refunds</h2>' in html
    assert "In 5 days." in html and "<script>alert" not in html and "onerror" not in html
    index = client.get(f"/help/{bot.slug}/").content.decode()
    assert f'href="/help/{bot.slug}/{article.pk}/"' in index


def test_unpublished_and_other_bots_articles_are_not_found(client, bot):
    article = factories.article_create(bot=bot, body="Text.")
    other = factories.bot_create()
    assert client.get(f"/help/{other.slug}/{article.pk}/").status_code == 404
    Article.objects.filter(pk=article.pk).update(is_published=False)
    assert client.get(f"/help/{bot.slug}/{article.pk}/").status_code == 404
