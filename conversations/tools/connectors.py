"""Where order data comes from: the store's tables, or a deployment's own HTTP API.

Both return `ConnectorOrder`s; who may see a record is decided by the tools (conversations.tools
.access), never here. Configure the HTTP source with ORDER_SOURCE_URL, ORDER_SOURCE_AUTH_HEADER
and ORDER_SOURCE_TIMEOUT.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from conversations.models import Order, Payment


class OrderSourceError(Exception):
    """The order system could not answer (down, slow, or said something unreadable)."""


class OrderActionRefused(Exception):
    """The order is no longer in a state that allows the action (seen under its row lock)."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the order is {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class ConnectorOrder:
    """One order as the tools see it, whichever system it came from."""

    number: str
    status: str
    total: str
    currency: str
    placed_at: str | None
    items: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    fulfillments: list[dict[str, Any]]
    # Proof of ownership: never shown to the model.
    customer_email: str = ""
    customer_external_id: str = ""
    zip_codes: tuple[str, ...] = field(default_factory=tuple)

    def public(self) -> dict[str, Any]:
        """What a customer who may see the order gets."""
        return {
            "number": self.number,
            "status": self.status,
            "placed_at": self.placed_at,
            "items": self.items,
            "total": self.total,
            "currency": self.currency,
            "payments": self.payments,
            "fulfillments": self.fulfillments,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "total": self.total,
            "placed_at": self.placed_at,
        }


class OrderSource(Protocol):
    def find_order(self, *, bot_id: int, number: str) -> ConnectorOrder | None: ...

    def orders_for_customer(
        self, *, bot_id: int, email: str = "", external_id: str = "", limit: int = 10
    ) -> list[ConnectorOrder]: ...

    # `key` identifies the one confirmed action: a retry with the same key changes nothing.
    def order_cancel(
        self, *, bot_id: int, number: str, reason: str, key: str
    ) -> ConnectorOrder: ...

    def order_return(
        self, *, bot_id: int, number: str, item_ids: list[str], key: str
    ) -> ConnectorOrder: ...


def order_number_candidates(number: str) -> list[str]:
    """Spellings a customer may type for one number: "#W123", "W123", "w123 "."""
    bare = number.strip().lstrip("#").strip().upper()
    if not bare:
        return []
    return [f"#{bare}", bare]


def _money(value: Any) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class DatabaseOrderSource:
    """The store's tables (conversations.models.shop), one bot's data at a time."""

    def _queryset(self, bot_id: int):
        return Order.objects.filter(bot_id=bot_id).select_related("customer")

    def _record(self, order: Order) -> ConnectorOrder:
        customer = order.customer
        zips = {
            str((order.shipping_address or {}).get("zip", "")),
            str((customer.address or {}).get("zip", "")),
        }
        methods = customer.payment_methods or {}
        return ConnectorOrder(
            number=order.number,
            status=order.status,
            total=_money(order.total),
            currency=order.currency,
            placed_at=_iso(order.placed_at),
            items=[
                {
                    "item_id": line.item_id,
                    "product_id": line.product_id,
                    "name": line.name,
                    "options": line.options,
                    "price": _money(line.price),
                }
                for line in order.lines.all()
            ],
            payments=[
                {
                    "transaction_type": payment.transaction_type,
                    "amount": _money(payment.amount),
                    "method": _method_label(payment.method or methods.get(payment.method_id, {})),
                }
                for payment in order.payments.all()
            ],
            fulfillments=[
                {
                    "tracking_numbers": list(f.tracking_numbers),
                    "item_ids": list(f.item_ids),
                    "carrier": f.carrier,
                }
                for f in order.fulfillments.all()
            ],
            customer_email=customer.email,
            customer_external_id=customer.external_id,
            zip_codes=tuple(sorted(z for z in zips if z)),
        )

    def find_order(self, *, bot_id: int, number: str) -> ConnectorOrder | None:
        candidates = order_number_candidates(number)
        if not candidates:
            return None
        query = Q()
        for candidate in candidates:
            query |= Q(number__iexact=candidate)
        order = (
            self._queryset(bot_id)
            .filter(query)
            .prefetch_related("lines", "payments", "fulfillments")
            .first()
        )
        return self._record(order) if order else None

    def orders_for_customer(
        self, *, bot_id: int, email: str = "", external_id: str = "", limit: int = 10
    ) -> list[ConnectorOrder]:
        if external_id:
            who = Q(customer__external_id=external_id)
        elif email:
            who = Q(customer__email__iexact=email)
        else:
            return []
        orders = (
            self._queryset(bot_id)
            .filter(who)
            .prefetch_related("lines", "payments", "fulfillments")
            .order_by("-placed_at", "number")[:limit]
        )
        return [self._record(order) for order in orders]

    def order_cancel(self, *, bot_id: int, number: str, reason: str, key: str) -> ConnectorOrder:
        with transaction.atomic():
            # The status is read again under the row lock: of two confirmed cancellations
            # racing, the second finds the order cancelled and refunds nothing.
            order = self._queryset(bot_id).select_for_update().get(number=number)
            if order.status != "pending":
                raise OrderActionRefused(order.status)
            order.status = "cancelled"
            order.save(update_fields=["status"])
            position = order.payments.aggregate(top=Max("position"))["top"] or 0
            for payment in list(order.payments.filter(transaction_type="payment")):
                position += 1
                Payment.objects.create(
                    order=order,
                    position=position,
                    transaction_type="refund",
                    amount=payment.amount,
                    method_id=payment.method_id,
                    method=payment.method,
                )
        return self.find_order(bot_id=bot_id, number=number)

    def order_return(
        self, *, bot_id: int, number: str, item_ids: list[str], key: str
    ) -> ConnectorOrder:
        with transaction.atomic():
            order = self._queryset(bot_id).select_for_update().get(number=number)
            if order.status != "delivered":
                raise OrderActionRefused(order.status)
            order.status = "return requested"
            order.save(update_fields=["status"])
        return self.find_order(bot_id=bot_id, number=number)


def _conflict_status(response: httpx.Response) -> str:
    try:
        return str((response.json() or {}).get("status") or "changed")
    except (ValueError, AttributeError):
        return "changed"


def _method_label(method: dict[str, Any]) -> str:
    source = str(method.get("source", "")).replace("_", " ")
    brand = method.get("brand")
    last_four = method.get("last_four")
    if brand and last_four:
        return f"{brand} ending in {last_four}"
    return source or "other"


class HttpOrderSource:
    """A store's own order API: GET {url}/orders/{number}, GET {url}/orders?email=|external_id=,
    POST {url}/orders/{number}/cancel and /return. Orders come back in ConnectorOrder's public
    shape plus "customer": {"email", "external_id", "zip_codes"}; 404 means no such order.
    Actions carry an Idempotency-Key header (one per confirmed action; a retry reuses it), and
    409 {"status": ...} means the order is no longer in a state for that action."""

    def __init__(self, *, url: str, auth_header: str = "", timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.headers: dict[str, str] = {"Accept": "application/json"}
        if auth_header:
            name, _, value = auth_header.partition(":")
            self.headers[name.strip()] = value.strip()
        self.timeout = httpx.Timeout(timeout)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
                response = client.request(method, self.url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise OrderSourceError(f"order API unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code == 409:
            # The store refuses: the order is no longer in a state for this action.
            raise OrderActionRefused(_conflict_status(response))
        if response.status_code >= 400:
            raise OrderSourceError(f"order API answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise OrderSourceError("order API answered something that is not JSON") from exc

    @staticmethod
    def _record(raw: dict[str, Any]) -> ConnectorOrder:
        try:
            customer = raw.get("customer") or {}
            return ConnectorOrder(
                number=str(raw["number"]),
                status=str(raw["status"]),
                total=_money(raw.get("total", 0)),
                currency=str(raw.get("currency", "USD")),
                placed_at=raw.get("placed_at"),
                items=[
                    {
                        "item_id": str(i.get("item_id", "")),
                        "product_id": str(i.get("product_id", "")),
                        "name": str(i["name"]),
                        "options": i.get("options") or {},
                        "price": _money(i.get("price", 0)),
                    }
                    for i in raw.get("items", [])
                ],
                payments=[
                    {
                        "transaction_type": str(p.get("transaction_type", "payment")),
                        "amount": _money(p.get("amount", 0)),
                        "method": str(p.get("method", "")),
                    }
                    for p in raw.get("payments", [])
                ],
                fulfillments=[
                    {
                        "tracking_numbers": [str(t) for t in f.get("tracking_numbers", [])],
                        "item_ids": [str(t) for t in f.get("item_ids", [])],
                        "carrier": str(f.get("carrier", "")),
                    }
                    for f in raw.get("fulfillments", [])
                ],
                customer_email=str(customer.get("email", "")),
                customer_external_id=str(customer.get("external_id", "")),
                zip_codes=tuple(str(z) for z in customer.get("zip_codes", [])),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise OrderSourceError("order API sent an order in an unknown shape") from exc

    def find_order(self, *, bot_id: int, number: str) -> ConnectorOrder | None:
        candidates = order_number_candidates(number)
        if not candidates:
            return None
        raw = self._request("GET", "/orders/" + quote(candidates[0], safe=""))
        return self._record(raw) if raw else None

    def orders_for_customer(
        self, *, bot_id: int, email: str = "", external_id: str = "", limit: int = 10
    ) -> list[ConnectorOrder]:
        params = {"external_id": external_id} if external_id else {"email": email}
        if not (email or external_id):
            return []
        raw = self._request("GET", "/orders", params={**params, "limit": limit}) or {}
        return [self._record(order) for order in raw.get("orders", [])[:limit]]

    def order_cancel(self, *, bot_id: int, number: str, reason: str, key: str) -> ConnectorOrder:
        path = "/orders/" + quote(number, safe="") + "/cancel"
        raw = self._request("POST", path, json={"reason": reason}, headers={"Idempotency-Key": key})
        if not raw:
            raise OrderSourceError("order API does not know this order")
        return self._record(raw)

    def order_return(
        self, *, bot_id: int, number: str, item_ids: list[str], key: str
    ) -> ConnectorOrder:
        path = "/orders/" + quote(number, safe="") + "/return"
        raw = self._request(
            "POST", path, json={"item_ids": item_ids}, headers={"Idempotency-Key": key}
        )
        if not raw:
            raise OrderSourceError("order API does not know this order")
        return self._record(raw)


def order_source() -> OrderSource:
    """The configured source: the HTTP API when ORDER_SOURCE_URL is set, else the tables."""
    if settings.ORDER_SOURCE_URL:
        return HttpOrderSource(
            url=settings.ORDER_SOURCE_URL,
            auth_header=settings.ORDER_SOURCE_AUTH_HEADER,
            timeout=settings.ORDER_SOURCE_TIMEOUT,
        )
    return DatabaseOrderSource()
