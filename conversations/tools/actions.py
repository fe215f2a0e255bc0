"""Order actions: cancelling a pending order, starting a return of delivered items.

The model can only propose: a call checks the order and records an OrderAction with a
one-time id, which the customer sees as a confirm card (the `action.proposed` event). Only
the customer's own answer carrying that id (the widget's confirm frame, or the API) carries
the action out, exactly once (`order_action_decide`); the model is told the outcome in the
conversation. Nothing the model says or sets confirms anything.
"""

import contextlib
from datetime import timedelta
from typing import Annotated, Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversations.domain.errors import DomainError
from conversations.domain.events import ActionDecided, ActionProposed
from conversations.domain.messages import message_append
from conversations.domain.realtime import event_publish_on_commit
from conversations.models import (
    ConversationStatus,
    MessageRole,
    OrderAction,
    OrderActionStatus,
    ToolRun,
    ToolRunStatus,
)
from conversations.tools.connectors import OrderActionRefused, OrderSourceError, order_source
from conversations.tools.orders import NOT_VISIBLE, OrderNumber, visible_order
from conversations.tools.registry import (
    Length,
    Tool,
    ToolArguments,
    ToolContext,
    ToolResult,
    tool_get,
    tool_register,
)
from conversations.tools.runs import NOT_AVAILABLE, tool_available, tool_context_for


def order_action_carry_out(*, context: ToolContext, action: OrderAction) -> dict[str, Any]:
    """Carry out a claimed action once; the order's status is checked again under its lock."""
    source = order_source()
    key = str(action.pk)
    details = action.details
    try:
        if action.action == "cancel_order":
            updated = source.order_cancel(
                bot_id=context.bot_id, number=action.order_number, reason=details["reason"], key=key
            )
            result = {"cancelled": True, "order": updated.summary()}
        else:
            updated = source.order_return(
                bot_id=context.bot_id,
                number=action.order_number,
                item_ids=details["item_ids"],
                key=key,
            )
            result = {"return_started": True, "order": updated.summary()}
        status = OrderActionStatus.DONE
    except OrderActionRefused as refused:
        result = {
            "error": "order_changed",
            "status": refused.status,
            "message": f"Nothing was done: the order is {refused.status} now.",
        }
        status = OrderActionStatus.REFUSED
    except OrderSourceError:
        OrderAction.objects.filter(pk=action.pk).update(
            status=OrderActionStatus.FAILED,
            result={
                "error": "order_system_unavailable",
                "message": "The order system did not answer; nothing was changed.",
            },
        )
        raise
    OrderAction.objects.filter(pk=action.pk).update(status=status, result=result)
    return result


DECISIONS = ("confirm", "decline")
OUTCOME_WORDS = {
    OrderActionStatus.DONE: "done",
    OrderActionStatus.DECLINED: "declined by the customer; nothing was changed",
    OrderActionStatus.REFUSED: "not possible any more; nothing was changed",
    OrderActionStatus.FAILED: "failed because the order system did not answer",
    OrderActionStatus.EXPIRED: "expired before the customer answered; nothing was changed",
}


def order_action_decide(*, conversation_id: Any, action_id: Any, decision: str) -> OrderAction:
    """The customer's answer to a confirm card: carried out (or declined) exactly once.

    Only customer transports call this, for the conversation they are authenticated for; the
    model has no way to reach it. A second answer to the same card changes nothing and
    returns the action as it stands. Raises DomainError for an unknown card or decision.
    """
    if decision not in DECISIONS:
        raise DomainError("invalid_decision", 'The decision must be "confirm" or "decline".')
    try:
        action = OrderAction.objects.select_related("conversation").get(
            pk=action_id, conversation_id=conversation_id
        )
    except (OrderAction.DoesNotExist, ValueError, ValidationError):
        raise DomainError("action_not_found", "That confirmation is not known here.") from None
    if action.status != OrderActionStatus.PROPOSED:
        return action
    now = timezone.now()
    expired = action.created_at < now - timedelta(seconds=settings.SUPPORTBOT_ORDER_ACTION_TTL)
    new_status = {
        "confirm": OrderActionStatus.CONFIRMED,
        "decline": OrderActionStatus.DECLINED,
    }[decision]
    if expired or action.conversation.status == ConversationStatus.CLOSED:
        # A closed conversation acts no more: whoever closed it may have done so because of
        # this card.
        new_status = OrderActionStatus.EXPIRED
    # The one-time step: of parallel answers (double clicks, replays, two tabs) one wins.
    claimed = OrderAction.objects.filter(pk=action.pk, status=OrderActionStatus.PROPOSED).update(
        status=new_status, decided_at=now
    )
    if claimed and new_status == OrderActionStatus.CONFIRMED:
        context = tool_context_for(conversation_id=conversation_id)
        # A failure is recorded on the action; the customer and the model are told.
        with contextlib.suppress(OrderSourceError):
            _carry_out_if_visible(context=context, action=action)
    action.refresh_from_db()
    if claimed:
        _decision_record(action=action)
    return action


def _carry_out_if_visible(*, context: ToolContext, action: OrderAction) -> None:
    if not tool_available(tool=tool_get(action.action), bot_id=context.bot_id):
        # Actions were switched off since the card was shown.
        OrderAction.objects.filter(pk=action.pk).update(
            status=OrderActionStatus.REFUSED, result=dict(NOT_AVAILABLE)
        )
        return
    if visible_order(context=context, order_number=action.order_number) is None:
        # The customer lost sight of the order since (e.g. signed out): nothing happens.
        OrderAction.objects.filter(pk=action.pk).update(
            status=OrderActionStatus.REFUSED, result=dict(NOT_VISIBLE)
        )
        return
    order_action_carry_out(context=context, action=action)


def order_action_public(action: OrderAction) -> dict[str, Any]:
    """What the customer's card shows of an action (the action.decided event, the API)."""
    result = action.result or {}
    return {
        "action_id": str(action.pk),
        "action": action.action,
        "order_number": action.order_number,
        "details": action.details,
        "status": action.status,
        "order": result.get("order"),
        "message": result.get("message", ""),
    }


def order_proposals_waiting(*, conversation_id: Any) -> list[ActionProposed]:
    """The confirm cards the customer has not answered and that have not expired, as first
    shown: a reloaded page gets them again after the history."""
    cutoff = timezone.now() - timedelta(seconds=settings.SUPPORTBOT_ORDER_ACTION_TTL)
    waiting = [
        str(pk)
        for pk in OrderAction.objects.filter(
            conversation_id=conversation_id,
            status=OrderActionStatus.PROPOSED,
            created_at__gte=cutoff,
        ).values_list("pk", flat=True)
    ]
    if not waiting:
        return []
    # The run that proposed each (its result is stored as runs.result_capped made it).
    runs = ToolRun.objects.filter(
        conversation_id=conversation_id,
        message__isnull=False,
        status=ToolRunStatus.SUCCEEDED,
        result__data__action_id__in=waiting,
    ).order_by("created_at")
    cards = (
        proposal_card(seq=seq, data=result["data"])
        for seq, result in runs.values_list("message__seq", "result")
    )
    return [card for card in cards if card is not None]


def proposal_card(*, seq: int, data: dict[str, Any]) -> ActionProposed | None:
    """The confirm card for a proposal the tool recorded (its result's data), or None."""
    if not data.get("confirmation_required"):
        return None
    details = data.get("details") or {}
    return ActionProposed(
        seq=seq,
        action_id=str(data.get("action_id", "")),
        action=str(data.get("action", "")),
        order_number=str(details.get("order_number", "")),
        details=details,
        order=data.get("order"),
    )


def _decision_record(*, action: OrderAction) -> None:
    """Tell the customer's sockets and, through the conversation, the model what happened."""
    words = OUTCOME_WORDS.get(action.status, action.status)
    verb = "cancel" if action.action == "cancel_order" else "return items of"
    note = (
        f"(System, not the customer:) The customer answered the confirm card to {verb} order "
        f"{action.order_number}: {words}."
    )
    message_append(
        conversation_id=action.conversation_id,
        role=MessageRole.EVENT,
        event="order_action",
        text=note,
        data=order_action_public(action),
    )
    event_publish_on_commit(
        conversation_id=action.conversation_id,
        event=ActionDecided(**order_action_public(action)),
    )


def _order_in_status(
    *, context: ToolContext, order_number: str, status: str, error: str, message: str
) -> tuple[Any, ToolResult | None]:
    """The customer's order if it is visible to them and in `status`; else what to answer."""
    order = visible_order(context=context, order_number=order_number)
    if order is None:
        return None, ToolResult(data=dict(NOT_VISIBLE))
    if order.status != status:
        return None, ToolResult(data={"error": error, "status": order.status, "message": message})
    return order, None


def _proposal(
    *, context: ToolContext, tool: str, details: dict[str, Any], order: Any
) -> ToolResult:
    """Record the proposal; the customer gets a confirm card for it."""
    action = OrderAction.objects.create(
        conversation_id=context.conversation_id,
        action=tool,
        order_number=order.number,
        details=details,
    )
    return ToolResult(
        data={
            "confirmation_required": True,
            "action_id": str(action.pk),
            "action": tool,
            "details": details,
            "order": order.summary(),
            "message": (
                "Nothing has changed yet. The customer now sees a card with these exact details "
                "and Confirm / Cancel buttons; only their click carries it out, and you will be "
                "told what they chose. Describe what will happen; never say it is done."
            ),
        }
    )


def cancel_order(*, context: ToolContext, order_number: str, reason: str) -> ToolResult:
    """Propose cancelling a pending order (refunded in full); the customer confirms it."""
    order, answer = _order_in_status(
        context=context,
        order_number=order_number,
        status="pending",
        error="not_cancellable",
        message="Only pending orders can be cancelled; offer a return instead.",
    )
    if answer is not None:
        return answer
    details = {"order_number": order.number, "reason": reason}
    return _proposal(context=context, tool="cancel_order", details=details, order=order)


def start_return(*, context: ToolContext, order_number: str, item_ids: list[str]) -> ToolResult:
    """Propose a return of delivered items; the customer confirms which ones."""
    order, answer = _order_in_status(
        context=context,
        order_number=order_number,
        status="delivered",
        error="not_returnable",
        message="Only delivered orders can be returned.",
    )
    if answer is not None:
        return answer
    known = {item["item_id"] for item in order.items}
    unknown = sorted(set(item_ids) - known)
    if unknown:
        return ToolResult(
            data={
                "error": "unknown_items",
                "item_ids": unknown,
                "items": [{"item_id": i["item_id"], "name": i["name"]} for i in order.items],
            }
        )
    details = {"order_number": order.number, "item_ids": sorted(set(item_ids))}
    return _proposal(context=context, tool="start_return", details=details, order=order)


def _actions_enabled(bot: Any) -> bool:
    return settings.SUPPORTBOT_ORDER_ACTIONS


class CancelArguments(ToolArguments):
    order_number: OrderNumber
    reason: Literal["no longer needed", "ordered by mistake"]


class ReturnArguments(ToolArguments):
    order_number: OrderNumber
    item_ids: Annotated[list[Annotated[str, Length(1, 64)]], Length(1, 20)]


tool_register(
    Tool(
        name="cancel_order",
        description=(
            "Propose cancelling a pending order. The customer gets a card to confirm or "
            "decline; only their click cancels, and you are told what they chose."
        ),
        arguments=CancelArguments,
        function=cancel_order,
        label="Cancelling your order…",
        done_label="Checked the cancellation",
        enabled=_actions_enabled,
    )
)
tool_register(
    Tool(
        name="start_return",
        description=(
            "Propose a return for items of a delivered order (item ids from get_order). The "
            "customer gets a card to confirm or decline; only their click starts the return."
        ),
        arguments=ReturnArguments,
        function=start_return,
        label="Starting your return…",
        done_label="Checked the return",
        enabled=_actions_enabled,
    )
)
