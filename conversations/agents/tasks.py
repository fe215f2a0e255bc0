"""Background jobs: unanswered hand-offs, insights, retention, and expired proof counts
(queue "background")."""

from typing import Any

from celery import shared_task
from django.conf import settings

from conversations.agents.handoff_timeouts import handoffs_unanswered_notify_due
from conversations.domain.insights import insights_due, insights_write
from conversations.domain.privacy import retention_apply
from conversations.tools.access import order_proof_limits_expire


@shared_task(name="conversations.agents.handoffs_unanswered", time_limit=60, ignore_result=True)
def handoffs_unanswered() -> int:
    """Tell customers whose hand-off nobody claimed in time (or after hours)."""
    return handoffs_unanswered_notify_due()


@shared_task(
    name="conversations.agents.insights_write",
    autoretry_for=(Exception,),
    retry_backoff=30,
    max_retries=3,
    time_limit=120,
    ignore_result=True,
)
def insights_write_task(conversation_ids: list[str]) -> int:
    return insights_write(conversation_ids=conversation_ids)


@shared_task(name="conversations.agents.insights_sweep", time_limit=60, ignore_result=True)
def insights_sweep() -> int:
    """Queue insights for closed or idle conversations, a batch per task (one model request)."""
    due: list[Any] = insights_due()
    size = settings.SUPPORTBOT_INSIGHTS_BATCH
    for start in range(0, len(due), size):
        insights_write_task.delay([str(pk) for pk in due[start : start + size]])
    return len(due)


@shared_task(name="conversations.agents.retention_apply", time_limit=1800, ignore_result=True)
def retention_apply_task() -> dict[str, int]:
    return retention_apply()


@shared_task(
    name="conversations.agents.order_proof_limits_expire", time_limit=300, ignore_result=True
)
def order_proof_limits_expire_task() -> int:
    """Forget failed-proof counts whose window has passed."""
    return order_proof_limits_expire()
