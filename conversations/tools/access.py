"""Who may see which order: the check lives here, in code, never in the prompt.

A verified customer (the host site signed their email or external id) sees the orders of the
store customer with that email or id. Anyone else sees an order only after proving it in this
conversation (its number with the email or a zip code on it). Failed proofs are limited per
conversation, per order, per visitor and per address, each counted atomically.
"""

import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from conversations.models import Conversation, OrderAccessGrant, OrderProofAttempt, OrderProofLimit
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


def client_key(ip: str) -> str:
    """A keyed hash of a client's address: equal addresses match, the address is not kept."""
    if not ip or ip == "unknown":
        return ""
    return hmac.new(settings.SECRET_KEY.encode(), f"client-ip:{ip}".encode(), "sha256").hexdigest()[
        :32
    ]


def _proof_scopes(*, context: ToolContext, order_number: str) -> list[tuple[str, int]]:
    """Each count a failed proof adds to, with its limit: one conversation alone is not enough,
    since a new conversation (or visitor) costs nothing."""
    order = _norm(order_number).lstrip("#")[:64]
    scopes = [
        (f"conversation:{context.conversation_id}", settings.SUPPORTBOT_ORDER_PROOF_MAX_FAILURES),
        (f"order:{context.bot_id}:{order}", settings.SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_ORDER),
        (
            f"visitor:{context.customer_id}",
            settings.SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_VISITOR,
        ),
    ]
    key = (
        Conversation.objects.filter(pk=context.conversation_id)
        .values_list("client_key", flat=True)
        .first()
    )
    if key:
        scopes.append(
            (f"ip:{context.bot_id}:{key}", settings.SUPPORTBOT_ORDER_PROOF_MAX_FAILURES_PER_IP)
        )
    return scopes


def _scope_take(scope: str, limit: int) -> bool:
    """One more failure under `limit` for the scope, or False; a single conditional UPDATE."""
    now = timezone.now()
    window_start = now - timedelta(seconds=settings.SUPPORTBOT_ORDER_PROOF_WINDOW)
    for _ in range(2):
        try:
            with transaction.atomic():
                OrderProofLimit.objects.get_or_create(scope=scope, defaults={"window_start": now})
        except IntegrityError:
            pass  # created by a parallel call
        OrderProofLimit.objects.filter(scope=scope, window_start__lt=window_start).update(
            failures=0, window_start=now
        )
        taken = OrderProofLimit.objects.filter(scope=scope, failures__lt=limit).update(
            failures=F("failures") + 1
        )
        # Nothing taken and no row: the expiry deleted it meanwhile, so count again.
        if taken or OrderProofLimit.objects.filter(scope=scope).exists():
            return bool(taken)
    return False


def order_proof_limits_expire(*, now: datetime | None = None) -> int:
    """Delete the failure counts whose window has passed: they would start again from zero
    anyway, and a scope names a visitor, an order or an address, kept no longer than needed."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.SUPPORTBOT_ORDER_PROOF_WINDOW)
    deleted, _ = OrderProofLimit.objects.filter(window_start__lt=cutoff).delete()
    return deleted


def _scope_give_back(scope: str) -> None:
    OrderProofLimit.objects.filter(scope=scope, failures__gt=0).update(failures=F("failures") - 1)


def order_proof_reserve(*, context: ToolContext, order_number: str) -> list[str] | None:
    """Reserve one failure in every scope before checking a proof; None when any is used up.

    Counting before the check (and giving back on success) is what keeps parallel guesses
    from overshooting: each takes its place under the limit, or is refused.
    """
    taken: list[str] = []
    for scope, limit in _proof_scopes(context=context, order_number=order_number):
        if not _scope_take(scope, limit):
            for done in taken:
                _scope_give_back(done)
            return None
        taken.append(scope)
    return taken


def order_proof_release(*, scopes: list[str]) -> None:
    """A proof succeeded: its reserved failures are given back."""
    for scope in scopes:
        _scope_give_back(scope)


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
