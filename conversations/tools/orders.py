"""Order tools: proving an order, one order's details, the verified customer's recent orders."""

from typing import Annotated, Any

from pydantic import Field

from conversations.tools.access import (
    order_numbers_granted,
    order_owned_by_identity,
    order_proof_matches,
    order_proof_record,
    order_proof_release,
    order_proof_reserve,
    order_visible,
)
from conversations.tools.connectors import ConnectorOrder, order_source
from conversations.tools.registry import (
    Length,
    NoArguments,
    Tool,
    ToolArguments,
    ToolContext,
    ToolResult,
    tool_register,
)

ORDER_NUMBER_DESCRIPTION = 'The order number exactly as the customer gave it, e.g. "#W2611340".'
OrderNumber = Annotated[str, Length(1, 40), Field(description=ORDER_NUMBER_DESCRIPTION)]


class OrderArguments(ToolArguments):
    order_number: OrderNumber


class IdentifyArguments(ToolArguments):
    order_number: OrderNumber
    email_or_zip: Annotated[
        str,
        Length(1, 254),
        Field(description="The email address or zip code the customer typed."),
    ]


# The same words whether the order does not exist or belongs to someone else: no oracle.
NOT_VISIBLE = {
    "error": "not_found_or_not_verified",
    "message": (
        "No order with that number is visible in this conversation. Ask the customer for the "
        "order number together with the email address or zip code on the order, and call "
        "identify_customer."
    ),
}


def visible_order(*, context: ToolContext, order_number: str) -> ConnectorOrder | None:
    """The order if this customer may see it; None whether it is missing or someone else's."""
    order = order_source().find_order(bot_id=context.bot_id, number=order_number)
    if order is None or not order_visible(context=context, order=order):
        return None
    return order


def identify_customer(*, context: ToolContext, order_number: str, email_or_zip: str) -> ToolResult:
    """Prove an order: its number with the email or zip code on it makes it visible here."""
    number = order_number.strip()
    reserved = order_proof_reserve(context=context, order_number=number)
    if reserved is None:
        return ToolResult(
            data={
                "verified": False,
                "order_number": number,
                "reason": "too_many_attempts",
                "message": "Too many failed attempts; offer a human agent instead.",
            }
        )
    order = order_source().find_order(bot_id=context.bot_id, number=number)
    if order is not None and (
        order_owned_by_identity(context=context, order=order)
        or order_proof_matches(order=order, email_or_zip=email_or_zip)
    ):
        order_proof_release(scopes=reserved)
        order_proof_record(context=context, order_number=order.number, succeeded=True)
        return ToolResult(data={"verified": True, "order_number": order.number})
    order_proof_record(context=context, order_number=number, succeeded=False)
    return ToolResult(
        data={
            "verified": False,
            "order_number": number,
            "reason": "no_match",
            "message": "That order number and email or zip code do not match any order.",
        }
    )


def get_order(*, context: ToolContext, order_number: str) -> ToolResult:
    """One order's status, items, totals, payments and fulfilments with tracking numbers."""
    order = visible_order(context=context, order_number=order_number)
    if order is None:
        return ToolResult(data=dict(NOT_VISIBLE))
    return ToolResult(data={"order": order.public()})


def list_recent_orders(*, context: ToolContext) -> ToolResult:
    """The verified customer's recent orders, or the orders proven in this conversation."""
    source = order_source()
    orders: list[dict[str, Any]]
    if context.verified and (context.email or context.external_id):
        records = source.orders_for_customer(
            bot_id=context.bot_id, email=context.email, external_id=context.external_id
        )
        orders = [r.summary() for r in records if order_owned_by_identity(context=context, order=r)]
        return ToolResult(data={"orders": orders})
    orders = []
    for number in order_numbers_granted(context=context):
        record = source.find_order(bot_id=context.bot_id, number=number)
        if record is not None:
            orders.append(record.summary())
    if not orders:
        return ToolResult(
            data={
                "error": "not_verified",
                "message": (
                    "The customer is not signed in. Ask for an order number with the email "
                    "or zip code on it, and call identify_customer."
                ),
            }
        )
    return ToolResult(data={"orders": orders})


LOOKING_UP = "Looking up your order…"
LOOKED_UP = "Looked up your order"

tool_register(
    Tool(
        name="identify_customer",
        description=(
            "Verify that the customer owns an order: they give its number and the email "
            "address or the billing/shipping zip code on it. Only after this succeeds can an "
            "unverified customer see the order. Never guess the email or zip yourself."
        ),
        arguments=IdentifyArguments,
        function=identify_customer,
        label="Checking your order details…",
        done_label="Checked your order details",
    )
)
tool_register(
    Tool(
        name="get_order",
        description=(
            "Get one order: status, items (name, options, price), total, payments and "
            "fulfilments with carrier and tracking numbers. Works only for the signed-in "
            "customer's orders or orders proven with identify_customer in this conversation."
        ),
        arguments=OrderArguments,
        function=get_order,
        label=LOOKING_UP,
        done_label=LOOKED_UP,
        read_only=True,
    )
)
tool_register(
    Tool(
        name="list_recent_orders",
        description=(
            "List the customer's recent orders (number, status, total, date). Needs a "
            "signed-in customer or an order proven in this conversation."
        ),
        arguments=NoArguments,
        function=list_recent_orders,
        label="Looking up your orders…",
        done_label="Looked up your orders",
        read_only=True,
    )
)
