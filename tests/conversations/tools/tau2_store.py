"""The tau2 retail data set as a bot's store, for lookups on realistic data (tests only).

Looks for tests/data/tau2-retail/db.json, then ../shared/data/tau2-retail/db.json beside the
checkout. A small loader of its own, so these tests do not wait on the importer.
"""

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from conversations.models import (
    Bot,
    Fulfillment,
    Order,
    OrderLine,
    Payment,
    StoreCustomer,
)

ROOT = Path(__file__).resolve().parents[3]
CANDIDATES = [
    ROOT / "tests" / "data" / "tau2-retail" / "db.json",
    ROOT.parent / "shared" / "data" / "tau2-retail" / "db.json",
    Path("/work/shared/data/tau2-retail/db.json"),
]


def tau2_path() -> Path | None:
    return next((p for p in CANDIDATES if p.exists()), None)


def tau2_load(*, bot: Bot) -> dict[str, Any]:
    """Load every tau2 user and order into the bot's store; returns the raw data."""
    path = tau2_path()
    assert path is not None
    data = json.loads(path.read_text())
    customers = StoreCustomer.objects.bulk_create(
        StoreCustomer(
            bot=bot,
            external_id=user["user_id"],
            first_name=user["name"]["first_name"],
            last_name=user["name"]["last_name"],
            email=user["email"],
            address=user["address"],
            payment_methods=user["payment_methods"],
        )
        for user in data["users"].values()
    )
    by_user = {c.external_id: c for c in customers}
    raw_orders = list(data["orders"].values())
    orders = Order.objects.bulk_create(
        Order(
            bot=bot,
            number=raw["order_id"],
            customer=by_user[raw["user_id"]],
            status=raw["status"],
            shipping_address=raw["address"],
            total=sum(
                (
                    Decimal(str(p["amount"]))
                    for p in raw["payment_history"]
                    if p["transaction_type"] == "payment"
                ),
                Decimal(0),
            ),
        )
        for raw in raw_orders
    )
    lines, payments, fulfillments = [], [], []
    for order, raw in zip(orders, raw_orders, strict=True):
        methods = by_user[raw["user_id"]].payment_methods
        for n, item in enumerate(raw["items"], 1):
            lines.append(
                OrderLine(
                    order=order,
                    position=n,
                    product_id=item["product_id"],
                    item_id=item["item_id"],
                    name=item["name"],
                    options=item["options"],
                    price=Decimal(str(item["price"])),
                )
            )
        for n, payment in enumerate(raw["payment_history"], 1):
            payments.append(
                Payment(
                    order=order,
                    position=n,
                    transaction_type=payment["transaction_type"],
                    amount=Decimal(str(payment["amount"])),
                    method_id=payment["payment_method_id"],
                    method=methods.get(payment["payment_method_id"], {}),
                )
            )
        for n, fulfillment in enumerate(raw["fulfillments"], 1):
            fulfillments.append(
                Fulfillment(
                    order=order,
                    position=n,
                    tracking_numbers=fulfillment["tracking_id"],
                    item_ids=fulfillment["item_ids"],
                )
            )
    OrderLine.objects.bulk_create(lines)
    Payment.objects.bulk_create(payments)
    Fulfillment.objects.bulk_create(fulfillments)
    return data
