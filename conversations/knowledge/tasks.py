"""Background jobs for knowledge: indexing an article's passages, drafting FAQ entries."""

from celery import shared_task

from conversations.knowledge.articles import article_index, articles_reindex_due
from conversations.knowledge.learning import faq_draft_write


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


@shared_task(name="conversations.knowledge.articles_reindex", time_limit=60, ignore_result=True)
def articles_reindex_task() -> int:
    """Queue the articles whose newest version is not indexed yet (a task that was lost)."""
    due = articles_reindex_due()
    for article_id in due:
        article_index_task.delay(article_id)
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
