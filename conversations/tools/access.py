"""Who may see which order: the check lives here, in code, never in the prompt.

A verified customer (the host site signed their email or external id) sees the orders of the
store customer with that email or id. Anyone else sees an order only after proving it in this
conversation (its number with the email or a zip code on it), and failed proofs are throttled.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.models import OrderAccessGrant, OrderProofAttempt
from conversations.tools.connectors import ConnectorOrder
from conversations.tools.registry import ToolContext


def _norm(value: str) -> str:
    return "".join(value.split()).casefold()


def order_owned_by_identity(*, context: ToolContext, order: ConnectorOrder) -> bool:
    """The verified customer's own order (external id wins over email when both are signed)."""
    if not context.verified:
        return False
    if context.external_id and order.customer_external_id:
        return context.external_id == order.customer_external_id
    return bool(context.email) and _norm(context.email) == _norm(order.customer_email)


def order_visible(*, context: ToolContext, order: ConnectorOrder) -> bool:
    if order_owned_by_identity(context=context, order=order):
        return True
    return OrderAccessGrant.objects.filter(
        conversation_id=context.conversation_id, order_number=order.number
    ).exists()


def order_proof_matches(*, order: ConnectorOrder, email_or_zip: str) -> bool:
    given = _norm(email_or_zip)
    if not given:
        return False
    if order.customer_email and given == _norm(order.customer_email):
        return True
    zips = {_norm(z) for z in order.zip_codes if z}
    # "12345-6789" proves a "12345" order and the other way round.
    return given in zips or given.split("-")[0] in {z.split("-")[0] for z in zips}


def order_proofs_exhausted(*, context: ToolContext) -> bool:
    since = timezone.now() - timedelta(seconds=settings.SUPPORTBOT_ORDER_PROOF_WINDOW)
    failures = OrderProofAttempt.objects.filter(
        conversation_id=context.conversation_id, succeeded=False, created_at__gte=since
    ).count()
    return failures >= settings.SUPPORTBOT_ORDER_PROOF_MAX_FAILURES


def order_proof_record(*, context: ToolContext, order_number: str, succeeded: bool) -> None:
    with transaction.atomic():
        OrderProofAttempt.objects.create(
            conversation_id=context.conversation_id,
            order_number=order_number[:64],
            succeeded=succeeded,
        )
        if succeeded:
            try:
                with transaction.atomic():
                    OrderAccessGrant.objects.create(
                        conversation_id=context.conversation_id, order_number=order_number
                    )
            except IntegrityError:
                pass  # proven before in this conversation


def order_numbers_granted(*, context: ToolContext, limit: int = 10) -> list[str]:
    """Orders proven in this conversation, newest first."""
    return list(
        OrderAccessGrant.objects.filter(conversation_id=context.conversation_id)
        .order_by("-created_at")
        .values_list("order_number", flat=True)[:limit]
    )
