"""Order actions: cancelling a pending order, starting a return of delivered items.

Two steps, checked in code: a first call (confirmed false) checks the order and returns the
exact details for the customer to confirm; a second call with confirmed true acts only if the
same details were proposed earlier in this conversation and the customer wrote since.
"""

from typing import Annotated, Any, Literal

from django.conf import settings
from django.db.models import Max
from pydantic import Field

from conversations.models import Message, MessageRole, ToolRun, ToolRunStatus
from conversations.tools.connectors import order_source
from conversations.tools.orders import NOT_VISIBLE, OrderNumber, visible_order
from conversations.tools.registry import (
    Length,
    Tool,
    ToolArguments,
    ToolContext,
    ToolResult,
    tool_register,
)


def _confirmed_in_conversation(*, context: ToolContext, tool: str, details: dict[str, Any]) -> bool:
    """The same details were put to the customer earlier, and the customer answered since."""
    last_customer_seq = Message.objects.filter(
        conversation_id=context.conversation_id, role=MessageRole.CUSTOMER
    ).aggregate(seq=Max("seq"))["seq"]
    if last_customer_seq is None:
        return False
    proposals = ToolRun.objects.filter(
        conversation_id=context.conversation_id,
        tool=tool,
        status=ToolRunStatus.SUCCEEDED,
        message__seq__lt=last_customer_seq,
    ).only("result")
    for run in proposals:
        data = (run.result or {}).get("data") or {}
        if data.get("confirmation_required") and data.get("details") == details:
            return True
    return False


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
) -> ToolResult | None:
    """The details to put to the customer, unless they already confirmed them here."""
    if confirmed and _confirmed_in_conversation(context=context, tool=tool, details=details):
        return None
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
    if proposal is not None:
        return proposal
    updated = order_source().order_cancel(bot_id=context.bot_id, number=order.number, reason=reason)
    return ToolResult(data={"cancelled": True, "order": updated.summary()})


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
    if proposal is not None:
        return proposal
    updated = order_source().order_return(
        bot_id=context.bot_id, number=order.number, item_ids=details["item_ids"]
    )
    return ToolResult(data={"return_started": True, "order": updated.summary()})


def _actions_enabled(bot: Any) -> bool:
    return settings.SUPPORTBOT_ORDER_ACTIONS


Confirmed = Annotated[
    bool,
    Field(description="True only after the customer explicitly confirmed these exact details."),
]


class CancelArguments(ToolArguments):
    order_number: OrderNumber
    reason: Literal["no longer needed", "ordered by mistake"]
    confirmed: Confirmed


class ReturnArguments(ToolArguments):
    order_number: OrderNumber
    item_ids: Annotated[list[Annotated[str, Length(1, 64)]], Length(1, 20)]
    confirmed: Confirmed


tool_register(
    Tool(
        name="cancel_order",
        description=(
            "Cancel a pending order. First call with confirmed=false: it returns the details "
            "to confirm. After the customer explicitly agrees, call again with confirmed=true."
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
            "Start a return for items of a delivered order (item ids from get_order). First "
            "call with confirmed=false; after the customer explicitly agrees, confirmed=true."
        ),
        arguments=ReturnArguments,
        function=start_return,
        label="Starting your return…",
        done_label="Checked the return",
        enabled=_actions_enabled,
    )
)
