"""Passage vectors: written by the indexing task in the rows it switches in, mixed with BM25 by
the search, recomputed after a change of embedder, and never required (BM25 carries on)."""

import numpy as np
import pytest

from conversations.demo.loader import DEMO_HELP_DIR
from conversations.importing.articles import articles_read, articles_store
from conversations.knowledge.embedding import embedder_for
from conversations.knowledge.index import vectors_unpack
from conversations.knowledge.passage_search import (
    passage_index,
    passage_index_forget,
    passage_search,
    passage_search_index,
)
from conversations.knowledge.passage_vectors import passage_vector_text
from conversations.knowledge.search import knowledge_warm_up
from conversations.models import Passage
from tests import factories

pytestmark = pytest.mark.usefixtures("eager_tasks")

WARRANTY = """# Warranty coverage

## What it does not cover

Normal wear and tear, accidental damage and cosmetic changes such as fading are not covered.

## How long it lasts

All products carry a 1-year warranty. Batteries are covered for 6 months.
"""


@pytest.fixture(autouse=True)
def fresh_indexes():
    passage_index_forget()
    yield
    passage_index_forget()


@pytest.fixture
def help_center(bot, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the indexing tasks
        articles_store(bot=bot, articles=articles_read(paths=[DEMO_HELP_DIR]))
    return bot


def test_indexing_writes_each_passage_vector_in_its_row(bot):
    article = factories.article_create(bot=bot, title="Warranty coverage", body=WARRANTY)
    embedder = embedder_for()
    rows = list(Passage.objects.filter(article=article, version=article.version))
    assert len(rows) == 2
    for passage in rows:
        assert passage.embedding_model == embedder.name
        stored = vectors_unpack(passage.embedding, rows=1)[0]
        text = passage_vector_text(title=article.title, heading=passage.heading, text=passage.text)
        assert np.allclose(stored, embedder.embed([text])[0], atol=1e-5)


def test_the_hybrid_finds_by_meaning_what_bm25_misses(help_center):
    index = passage_index(bot_id=help_center.pk)
    assert index.dense is not None and len(index.dense) == len(index.bm25)
    # The article says "After 5 failed sign-in attempts your account is locked"; BM25 goes
    # for the "wrong items" passage on the word "wrong".
    question = "I typed my password wrong too many times"
    hybrid = passage_search_index(index=index, question=question)
    bm25 = passage_search_index(index=index, question=question, fusion="bm25")
    assert (hybrid.matches[0].title, hybrid.matches[0].heading) == (
        "Your account",
        "Signing in",
    )
    assert hybrid.matches[0].similarity > 0.3
    assert bm25.matches[0].title != "Your account"


def test_off_topic_questions_are_still_no_good_match(help_center):
    for question in ("What's the capital of Mongolia?", "Write me a poem about the sea"):
        assert passage_search(bot_id=help_center.pk, question=question).no_good_match


def test_shared_words_without_shared_meaning_are_no_good_match(help_center, settings):
    # "Australia" is a rare word of the shipping article ("We ship to ... Australia"): BM25's
    # floors alone took the question for a good match, and the bot answered with a source.
    question = "what's the capital of australia"
    result = passage_search(bot_id=help_center.pk, question=question)
    assert result.matches[0].title == "International shipping"
    assert result.matches[0].score >= settings.SUPPORTBOT_PASSAGE_MIN_SCORE
    assert result.no_good_match
    assert not passage_search(
        bot_id=help_center.pk, question="Do you ship to Australia?"
    ).no_good_match
    settings.SUPPORTBOT_PASSAGE_LEXICAL_MIN_COSINE = 0.0
    assert not passage_search(bot_id=help_center.pk, question=question).no_good_match


def test_without_an_embedder_passages_are_stored_and_searched_by_bm25(bot, settings):
    # An embeddings endpoint that is down: nothing listens on this port.
    settings.SUPPORTBOT_EMBEDDING_BACKEND = "openai"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_MAX_RETRIES = 0
    article = factories.article_create(bot=bot, title="Warranty coverage", body=WARRANTY)
    assert set(
        Passage.objects.filter(article=article).values_list("embedding_model", flat=True)
    ) == {""}
    result = passage_search(bot_id=bot.pk, question="how long are batteries covered")
    assert result.matches[0].heading == "How long it lasts"
    assert result.matches[0].similarity == 0.0  # ranked by BM25 alone


def test_the_warm_up_builds_the_passage_index(bot):
    factories.article_create(bot=bot, title="Warranty coverage", body=WARRANTY)
    passage_index_forget()
    from conversations.knowledge import passage_search as module

    assert bot.pk not in module._indexes
    knowledge_warm_up(background=False)
    assert bot.pk in module._indexes


@pytest.mark.django_db(transaction=True)
def test_a_change_of_embedder_is_embedded_off_the_search_whole_articles_at_a_time(
    settings, monkeypatch
):
    from django.db import transaction

    from conversations.background import background_wait

    bot = factories.bot_create()
    articles = [
        factories.article_create(bot=bot, title=title, body=WARRANTY)
        for title in ("Warranty coverage", "Warranty for batteries", "Warranty in Europe")
    ]
    before = embedder_for().name
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the embedded default: a thread, not the search
    settings.SUPPORTBOT_EMBEDDING_BACKEND = "local"
    monkeypatch.setattr("conversations.knowledge.passage_vectors.REFRESH_ARTICLES", 2)
    with transaction.atomic():  # the refresh is queued for after the commit
        result = passage_search(bot_id=bot.pk, question="how long are batteries covered")
        assert result.matches[0].heading.endswith("How long it lasts")  # BM25 meanwhile
        assert result.matches[0].similarity == 0.0
        # The search embedded its question only: every passage still has the old vectors.
        assert set(Passage.objects.values_list("embedding_model", flat=True)) == {before}
    background_wait(timeout=60)
    for article in articles:
        assert set(
            Passage.objects.filter(article=article).values_list("embedding_model", flat=True)
        ) == {"local-hash-v1"}
    # Each group's articles moved their indexed_at, so the next search rebuilds with vectors.
    result = passage_search(bot_id=bot.pk, question="how long are batteries covered")
    assert passage_index(bot_id=bot.pk).dense is not None
    assert result.matches[0].similarity > 0


def test_the_vectors_refresh_writes_whole_articles(bot, settings, monkeypatch):
    from conversations.knowledge.passage_vectors import passage_vectors_refresh

    for title in ("Warranty coverage", "Warranty for batteries", "Warranty in Europe"):
        factories.article_create(bot=bot, title=title, body=WARRANTY)
    settings.SUPPORTBOT_EMBEDDING_BACKEND = "local"
    monkeypatch.setattr("conversations.knowledge.passage_vectors.REFRESH_ARTICLES", 2)
    groups = []
    embed = embedder_for().embed
    monkeypatch.setattr(
        embedder_for(), "embed", lambda texts: groups.append(len(texts)) or embed(texts)
    )
    assert passage_vectors_refresh(bot_id=bot.pk) == 6
    assert groups == [4, 2]  # two articles of two passages, then the third
    assert passage_vectors_refresh(bot_id=bot.pk) == 0  # nothing left
