"""Indexing on a real Celery worker (the "background" queue): an edit is searched once the
worker has written all of the new version's passages, and not before."""

import time

import pytest

from conversations.knowledge.articles import ArticleFields, article_save
from conversations.knowledge.passage_search import passage_search
from conversations.models import Article
from tests.celery_worker import celery_worker_running
from tests.conftest import requires_postgres, requires_redis

pytestmark = [
    requires_postgres,
    requires_redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def wait_until(condition, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def body(days: str) -> str:
    return f"# Refunds\n\n## Timing\n\nRefunds reach your card within {days}.\n"


def test_a_worker_indexes_each_new_version(bot):
    with celery_worker_running(queue="background", name="articles"):
        article, _ = article_save(
            bot=bot, fields=ArticleFields(source="r.md", title="Refunds", body=body("5 days"))
        )
        wait_until(lambda: Article.objects.get(pk=article.pk).indexed_version == 1)
        assert "5 days" in passage_search(bot_id=bot.pk, question="refund timing").matches[0].text

        article_save(
            bot=bot, fields=ArticleFields(source="r.md", title="Refunds", body=body("a week"))
        )
        seen = set()

        def indexed() -> bool:
            seen.add(passage_search(bot_id=bot.pk, question="refund timing").matches[0].text)
            return Article.objects.get(pk=article.pk).indexed_version == 2

        wait_until(indexed)
        text = passage_search(bot_id=bot.pk, question="refund timing").matches[0].text
        assert "a week" in text
        assert all("5 days" in s or "a week" in s for s in seen)  # one version or the other
