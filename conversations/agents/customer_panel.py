"""The customer beside a conversation in the console: identity, orders, history, bot's work.

Orders come from the same order source and the same access rules as the bot's tools, scoped
to the conversation's customer: a verified customer's own orders, and the orders proven in
this conversation. An agent never sees another customer's orders here.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from conversations.domain.insights import insights_so_far
from conversations.models import Conversation, Customer, ToolRun, VerifiedBy
from conversations.tools.access import order_numbers_granted, order_owned_by_identity
from conversations.tools.connectors import ConnectorOrder, OrderSourceError, order_source
from conversations.tools.registry import tool_get
from conversations.tools.runs import tool_context_for

ORDERS_SHOWN = 10
PREVIOUS_SHOWN = 10
TOOL_RUNS_SHOWN = 30


@dataclass(frozen=True, slots=True)
class IdentityField:
    label: str
    value: str
    verified: bool


@dataclass(frozen=True, slots=True)
class PanelOrder:
    record: ConnectorOrder
    why: str  # "signed-in customer" or "proven in this conversation"

    @property
    def tracking(self) -> list[dict[str, Any]]:
        return [
            {"carrier": f.get("carrier", ""), "number": number}
            for f in self.record.fulfillments
            for number in f.get("tracking_numbers", [])
        ]


@dataclass(slots=True)
class CustomerPanel:
    customer: Customer
    verified: bool
    verified_by: str
    identity: list[IdentityField]
    orders: list[PanelOrder] = field(default_factory=list)
    orders_error: str = ""
    previous: list[Conversation] = field(default_factory=list)
    summary: str = ""
    topic: str = ""
    tool_runs: list[dict[str, Any]] = field(default_factory=list)


def customer_identity(conversation: Conversation) -> tuple[bool, str, list[IdentityField]]:
    """Which of the customer's fields the host site signed, for this conversation.

    Only the signed value (Customer.verified_by), and only in a conversation started with the
    signature; a name is never signed, and an email claimed beside a signed id stays a claim.
    """
    customer = conversation.customer
    verified = conversation.identity_verified
    by_id = verified and customer.verified_by == VerifiedBy.EXTERNAL_ID
    by_email = verified and customer.verified_by == VerifiedBy.EMAIL
    verified_by = ("signed customer id" if by_id else "signed email") if verified else ""
    fields = [
        IdentityField("Name", customer.name, False),
        IdentityField("Email", customer.email, by_email),
        IdentityField("Customer id", customer.external_id, by_id),
    ]
    return verified, verified_by, [f for f in fields if f.value]


def customer_orders(*, conversation_id: Any) -> list[PanelOrder]:
    """The orders the bot's tools would show in this conversation, newest first."""
    context = tool_context_for(conversation_id=conversation_id)
    source = order_source()
    found: list[PanelOrder] = []
    if context.verified and (context.email or context.external_id):
        for record in source.orders_for_customer(
            bot_id=context.bot_id,
            email=context.email,
            external_id=context.external_id,
            limit=ORDERS_SHOWN,
        ):
            if order_owned_by_identity(context=context, order=record):
                found.append(PanelOrder(record, "signed-in customer"))
    seen = {o.record.number for o in found}
    for number in order_numbers_granted(context=context, limit=ORDERS_SHOWN):
        if number in seen:
            continue
        record = source.find_order(bot_id=context.bot_id, number=number)
        if record is not None:
            seen.add(record.number)
            found.append(PanelOrder(record, "proven in this conversation"))
    return found[:ORDERS_SHOWN]


def previous_conversations(*, conversation: Conversation) -> list[Conversation]:
    """The same customer's other conversations with this bot.

    The same visitor, and for a verified customer the conversations of other visitors verified
    as the same person; an unverified email links nothing (anyone can type one).
    """
    customer = conversation.customer
    same = Q(customer_id=customer.pk)
    if customer.verified_external_id:
        same |= Q(
            customer__verified_by=VerifiedBy.EXTERNAL_ID, customer__external_id=customer.external_id
        )
    elif customer.verified_email:
        same |= Q(customer__verified_by=VerifiedBy.EMAIL, customer__email__iexact=customer.email)
    return list(
        Conversation.objects.filter(same, bot_id=conversation.bot_id)
        .exclude(pk=conversation.pk)
        .only("id", "title", "status", "created_at", "summary", "csat_rating")
        .order_by("-created_at")[:PREVIOUS_SHOWN]
    )


def tool_runs_summary(*, conversation_id: Any) -> list[dict[str, Any]]:
    # The bot's runs: a copilot draft's lookups (message empty) are the agent's own.
    runs = ToolRun.objects.filter(conversation_id=conversation_id, message__isnull=False).order_by(
        "-created_at", "-id"
    )[:TOOL_RUNS_SHOWN]
    rows = []
    for run in reversed(list(runs)):
        tool = tool_get(run.tool)
        rows.append(
            {
                "tool": run.tool,
                "label": tool.done_label if tool else run.tool,
                "status": run.status,
                "arguments": run.arguments,
                "created_at": run.created_at,
                "duration_ms": run.duration_ms,
            }
        )
    return rows


def customer_panel(*, conversation_id: Any) -> CustomerPanel:
    """Everything the console shows beside the conversation."""
    conversation = Conversation.objects.select_related("customer").get(pk=conversation_id)
    verified, verified_by, identity = customer_identity(conversation)
    panel = CustomerPanel(
        customer=conversation.customer,
        verified=verified,
        verified_by=verified_by,
        identity=identity,
        previous=previous_conversations(conversation=conversation),
        tool_runs=tool_runs_summary(conversation_id=conversation_id),
    )
    try:
        panel.orders = customer_orders(conversation_id=conversation_id)
    except OrderSourceError:
        panel.orders_error = "The order system is not answering right now."
    found = insights_so_far(conversation_id=conversation_id)
    panel.summary, panel.topic = found.summary, found.topic
    return panel
