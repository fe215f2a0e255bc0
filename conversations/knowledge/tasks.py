"""Background jobs for the knowledge base (queue "background")."""

from typing import Any

from celery import shared_task
from celery.signals import worker_process_init

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


@worker_process_init.connect(dispatch_uid="knowledge_warm_up")
def knowledge_warm_up_in_worker(**kwargs: Any) -> None:
    """Tools (search_faq among them) run in the workers: warm each one's indexes."""
    from conversations.knowledge.search import knowledge_warm_up

    knowledge_warm_up()
