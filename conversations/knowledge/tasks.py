"""Background jobs for knowledge (queue "background"): FAQ vectors and routers, article
passages, FAQ drafts from resolved hand-offs."""

from typing import Any

from celery import shared_task
from celery.signals import worker_process_init

from conversations.knowledge.articles import (
    INDEX_CHUNK,
    article_index,
    articles_index,
    articles_reindex_due,
)
from conversations.knowledge.index import faq_vectors_refresh
from conversations.knowledge.learning import faq_draft_write
from conversations.knowledge.passage_vectors import passage_vectors_refresh
from conversations.knowledge.search import faq_router_fit


@shared_task(
    name="conversations.knowledge.faq_vectors_refresh",
    autoretry_for=(Exception,),
    retry_backoff=10,
    max_retries=5,
    time_limit=600,
    ignore_result=True,
)
def faq_vectors_refresh_task(bot_id: int) -> int:
    """Embed the bot's FAQ entries whose vectors are missing or stale, then refit its router."""
    embedded = faq_vectors_refresh(bot_id=bot_id)
    faq_router_fit(bot_id=bot_id)
    return embedded


@worker_process_init.connect(dispatch_uid="knowledge_warm_up")
def knowledge_warm_up_in_worker(**kwargs: Any) -> None:
    """Tools (search_faq among them) run in the workers: warm each one's indexes."""
    from conversations.knowledge.search import knowledge_warm_up

    knowledge_warm_up()


@shared_task(
    name="conversations.knowledge.article_index",
    autoretry_for=(Exception,),
    retry_backoff=10,
    max_retries=3,
    time_limit=300,
    ignore_result=True,
)
def article_index_task(article_id: int) -> int:
    return article_index(article_id=article_id)


@shared_task(
    name="conversations.knowledge.articles_index",
    autoretry_for=(Exception,),
    retry_backoff=10,
    max_retries=3,
    time_limit=300,
    ignore_result=True,
)
def articles_index_task(article_ids: list[int]) -> int:
    """Index up to INDEX_CHUNK articles, their passages embedded together."""
    return articles_index(article_ids=article_ids)


@shared_task(
    name="conversations.knowledge.passage_vectors_refresh",
    autoretry_for=(Exception,),
    retry_backoff=10,
    max_retries=3,
    time_limit=900,
    ignore_result=True,
)
def passage_vectors_refresh_task(bot_id: int) -> int:
    """Embed the bot's passages that have no current vectors (after a change of embedder)."""
    return passage_vectors_refresh(bot_id=bot_id)


@shared_task(name="conversations.knowledge.articles_reindex", time_limit=60, ignore_result=True)
def articles_reindex_task() -> int:
    """Queue the articles whose newest version is not indexed yet (a task that was lost)."""
    due = articles_reindex_due()
    for start in range(0, len(due), INDEX_CHUNK):
        articles_index_task.delay(due[start : start + INDEX_CHUNK])
    return len(due)


@shared_task(
    name="conversations.knowledge.faq_draft",
    autoretry_for=(Exception,),
    retry_backoff=30,
    max_retries=3,
    time_limit=120,
    ignore_result=True,
)
def faq_draft_task(conversation_id: str) -> int | None:
    """Draft an unpublished FAQ entry from a hand-off an agent resolved."""
    entry = faq_draft_write(conversation_id=conversation_id)
    return entry.pk if entry else None
