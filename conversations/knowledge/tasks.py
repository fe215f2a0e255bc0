"""Background jobs for the knowledge base (queue "background")."""

from celery import shared_task

from conversations.knowledge.index import faq_vectors_refresh
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
