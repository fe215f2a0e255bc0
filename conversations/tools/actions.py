"""Order actions: cancelling a pending order, starting a return of delivered items.

Two steps, checked in code: a first call (confirmed false) checks the order and returns the
exact details for the customer to confirm; a second call with confirmed true acts only if the
same details were proposed earlier in this conversation and the customer wrote since.
"""

from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from conversations.models import Message, MessageRole, OrderAction, OrderActionStatus
from conversations.tools.connectors import OrderActionRefused, OrderSourceError, order_source
from conversations.tools.orders import NOT_VISIBLE, ORDER_NUMBER, visible_order
from conversations.tools.registry import Tool, ToolContext, ToolResult, object_schema, tool_register

CANCEL_REASONS = ["no longer needed", "ordered by mistake"]


def _proposal_claim(*, context: ToolContext, tool: str, details: dict[str, Any]) -> Any:
    """The proposal of these details the customer answered since, claimed for this call alone.

    The claim is a conditional UPDATE (proposed -> confirmed): of parallel or replayed calls
    only one wins, so one proposal is carried out at most once.
    """
    last_customer_seq = Message.objects.filter(
        conversation_id=context.conversation_id, role=MessageRole.CUSTOMER
    ).aggregate(seq=Max("seq"))["seq"]
    if last_customer_seq is None:
        return None
    answered = Message.objects.filter(
        conversation_id=context.conversation_id,
        role=MessageRole.CUSTOMER,
        seq=last_customer_seq,
    ).values_list("created_at", flat=True)[0]
    candidates = OrderAction.objects.filter(
        conversation_id=context.conversation_id,
        action=tool,
        status=OrderActionStatus.PROPOSED,
        created_at__lt=answered,
    ).order_by("-created_at")
    for action in candidates:
        if action.details != details:
            continue
        claimed = OrderAction.objects.filter(
            pk=action.pk, status=OrderActionStatus.PROPOSED
        ).update(status=OrderActionStatus.CONFIRMED, decided_at=timezone.now())
        if claimed:
            return action
    return None


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
        OrderAction.objects.filter(pk=action.pk).update(status=OrderActionStatus.FAILED)
        raise
    OrderAction.objects.filter(pk=action.pk).update(status=status, result=result)
    return result


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


def _unconfirmed(
    *, context: ToolContext, tool: str, details: dict[str, Any], confirmed: bool, order: Any
) -> ToolResult | OrderAction:
    """The claimed action if the customer confirmed these details; else a new proposal."""
    if confirmed:
        action = _proposal_claim(context=context, tool=tool, details=details)
        if action is not None:
            return action
    OrderAction.objects.create(
        conversation_id=context.conversation_id,
        action=tool,
        order_number=order.number,
        details=details,
    )
    return ToolResult(
        data={
            "confirmation_required": True,
            "action": tool,
            "details": details,
            "order": order.summary(),
            "message": (
                "Nothing has changed yet. Tell the customer exactly what will happen and ask "
                "them to confirm; call again with confirmed=true only after they say yes."
            ),
        }
    )


def cancel_order(
    *, context: ToolContext, order_number: str, reason: str, confirmed: bool
) -> ToolResult:
    """Cancel a pending order (refunded in full) once the customer confirmed it here."""
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
    proposal = _unconfirmed(
        context=context, tool="cancel_order", details=details, confirmed=confirmed, order=order
    )
    if isinstance(proposal, ToolResult):
        return proposal
    return ToolResult(data=order_action_carry_out(context=context, action=proposal))


def start_return(
    *, context: ToolContext, order_number: str, item_ids: list[str], confirmed: bool
) -> ToolResult:
    """Start a return of delivered items once the customer confirmed which ones here."""
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
    proposal = _unconfirmed(
        context=context, tool="start_return", details=details, confirmed=confirmed, order=order
    )
    if isinstance(proposal, ToolResult):
        return proposal
    return ToolResult(data=order_action_carry_out(context=context, action=proposal))


def _actions_enabled(bot: Any) -> bool:
    return settings.SUPPORTBOT_ORDER_ACTIONS


CONFIRMED = {
    "type": "boolean",
    "description": "True only after the customer explicitly confirmed these exact details.",
}

tool_register(
    Tool(
        name="cancel_order",
        description=(
            "Cancel a pending order. First call with confirmed=false: it returns the details "
            "to confirm. After the customer explicitly agrees, call again with confirmed=true."
        ),
        parameters=object_schema(
            {
                "order_number": ORDER_NUMBER,
                "reason": {"type": "string", "enum": CANCEL_REASONS},
                "confirmed": CONFIRMED,
            }
        ),
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
            "Start a return for items of a delivered order (item ids from get_order). First "
            "call with confirmed=false; after the customer explicitly agrees, confirmed=true."
        ),
        parameters=object_schema(
            {
                "order_number": ORDER_NUMBER,
                "item_ids": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 64},
                    "minItems": 1,
                    "maxItems": 20,
                },
                "confirmed": CONFIRMED,
            }
        ),
        function=start_return,
        label="Starting your return…",
        done_label="Checked the return",
        enabled=_actions_enabled,
    )
)
