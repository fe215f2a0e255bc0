"""Articles: clean text and passages by heading, versions, and the atomic switch to new passages."""

import itertools

import pytest

from conversations.knowledge.articles import (
    ArticleError,
    ArticleFields,
    article_index,
    article_save,
)
from conversations.knowledge.passage_search import passage_search
from conversations.knowledge.passages import PASSAGE_WORDS, article_chunks
from conversations.models import Article, Passage
from tests import factories

RETURNS = """# Returns

You can return most items within 30 days of delivery.

## Refunds

Refunds go back to the original payment method within 5 business days.

## Exchanges

Exchanges are free for a different size or colour.
"""


def test_markdown_is_cut_along_headings_with_heading_paths():
    text, chunks = article_chunks(title="Returns", body=RETURNS, body_format="markdown")
    assert [c.heading for c in chunks] == ["Refunds", "Exchanges"]
    assert chunks[0].anchor == "refunds"
    assert "30 days" in chunks[0].text and "original payment method" in chunks[0].text
    assert text.startswith("Returns\n\nYou can return")
    assert "#" not in text


def test_html_is_cleaned_and_scripts_dropped():
    body = (
        "<h1>Shipping</h1><p>We ship <b>worldwide</b>.</p><script>alert(1)</script>"
        "<h2>Costs</h2><ul><li>Free over $50</li><li>$5 below</li></ul>"
        "<h3>Express</h3><p>Next day &amp; tracked.</p>"
    )
    text, chunks = article_chunks(title="Shipping", body=body, body_format="html")
    assert "alert" not in text and "<" not in text
    assert [c.heading for c in chunks] == ["Costs", "Costs > Express"]  # the lead-in joins
    assert "worldwide" in chunks[0].text and "- Free over $50" in chunks[0].text
    assert "Next day & tracked." in chunks[1].text


def test_long_sections_become_overlapping_passages_of_a_few_hundred_tokens():
    sentences = [f"Sentence number {n} says something about parcels and boxes." for n in range(120)]
    body = "# Long\n\n## Part\n\n" + " ".join(sentences)
    _, chunks = article_chunks(title="Long", body=body, body_format="markdown")
    assert len(chunks) >= 4
    assert all(len(c.text.split()) <= PASSAGE_WORDS + 15 for c in chunks)
    for first, second in itertools.pairwise(chunks):
        assert first.text.split(". ")[-1].rstrip(".") in second.text  # the overlap
    assert all(c.heading == "Part" for c in chunks)


def test_a_new_version_is_searched_only_once_fully_indexed(
    bot, eager_tasks, django_capture_on_commit_callbacks
):
    fields = ArticleFields(source="returns.md", title="Returns", body=RETURNS)
    with django_capture_on_commit_callbacks(execute=True):
        article, outcome = article_save(bot=bot, fields=fields)
    assert outcome == "created"
    article.refresh_from_db()
    assert article.indexed_version == article.version == 1  # indexed by the (eager) task
    assert passage_search(bot_id=bot.pk, question="refund to my card").matches[0].heading == (
        "Refunds"
    )

    changed = ArticleFields(
        source="returns.md", title="Returns", body=RETURNS.replace("5 business days", "a week")
    )
    with pytest.MonkeyPatch.context() as patch:
        # No task runs: the new version is stored, its passages are not written yet.
        patch.setattr("conversations.knowledge.articles.articles_index_queue", lambda **_: None)
        article, outcome = article_save(bot=bot, fields=changed)
    assert outcome == "updated" and article.version == 2
    hit = passage_search(bot_id=bot.pk, question="how long do refunds take").matches[0]
    assert "5 business days" in hit.text  # the old version still serves

    Passage.objects.create(article=article, version=2, position=0, text="half written")
    assert "5 business days" in passage_search(bot_id=bot.pk, question="refunds").matches[0].text

    assert article_index(article_id=article.pk) == 2  # the short lead-in joins "Refunds"
    hit = passage_search(bot_id=bot.pk, question="how long do refunds take").matches[0]
    assert "a week" in hit.text
    assert set(Passage.objects.filter(article=article).values_list("version", flat=True)) == {2}
    assert article_index(article_id=article.pk) == 0  # idempotent


def test_saving_the_same_article_again_changes_nothing(bot):
    fields = ArticleFields(source="a.md", title="Returns", body=RETURNS, locale="en")
    article, _ = article_save(bot=bot, fields=fields)
    again, outcome = article_save(bot=bot, fields=fields)
    assert outcome == "unchanged" and again.version == 1
    _, outcome = article_save(
        bot=bot, fields=ArticleFields(source="a.md", title="Returns", body=RETURNS, locale="de")
    )
    assert outcome == "updated"
    assert Article.objects.get(pk=article.pk).version == 1  # no new passages for a locale


def test_unpublished_articles_are_not_searched(bot):
    article = factories.article_create(bot=bot, title="Returns", body=RETURNS)
    assert passage_search(bot_id=bot.pk, question="exchange a size").matches
    Article.objects.filter(pk=article.pk).update(is_published=False)
    Article.objects.get(pk=article.pk).save(update_fields=["updated_at"])
    assert not passage_search(bot_id=bot.pk, question="exchange a size").matches


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (ArticleFields(source="x", title="", body="text"), "title is missing"),
        (ArticleFields(source="x", title="T", body="  "), "the body is empty"),
        (ArticleFields(source="x", title="T", body="<p></p>", body_format="html"), "no text"),
        (ArticleFields(source="x", title="T", body="b", body_format="docx"), "format"),
        (ArticleFields(source="x", title="T", body="b", url="javascript:x"), "url"),
    ],
)
def test_bad_articles_are_refused(bot, fields, problem):
    with pytest.raises(ArticleError, match=problem):
        article_save(bot=bot, fields=fields)
    assert not Article.objects.exists()


def test_an_import_indexes_its_articles_together_in_chunks(
    bot, eager_tasks, monkeypatch, django_capture_on_commit_callbacks
):
    from conversations.importing.articles import articles_store
    from conversations.knowledge.embedding import embedder_for

    monkeypatch.setattr("conversations.knowledge.articles.INDEX_CHUNK", 2)
    batches = []
    embedder = embedder_for()
    embed = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts: batches.append(len(texts)) or embed(texts))
    articles = [
        ArticleFields(source=f"{n}.md", title=f"Returns {n}", body=RETURNS) for n in range(3)
    ]
    with django_capture_on_commit_callbacks(execute=True) as tasks:
        articles_store(bot=bot, articles=articles)
    assert len(tasks) == 2  # one indexing task per 2 articles, not one per article
    per_article = Passage.objects.count() // 3
    assert batches == [2 * per_article, per_article]  # one embedding call per task
    assert set(Article.objects.values_list("indexed_version", flat=True)) == {1}
    assert Passage.objects.exclude(embedding_model=embedder.name).count() == 0
    hit = passage_search(bot_id=bot.pk, question="refund to my card").matches[0]
    assert hit.heading.endswith("Refunds")

    with django_capture_on_commit_callbacks(execute=True) as tasks:
        articles_store(bot=bot, articles=articles)  # again: nothing changed, nothing queued
    assert tasks == []
