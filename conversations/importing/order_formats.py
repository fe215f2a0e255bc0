"""Reading order files (tau2 db.json, the Supportbot JSON format, CSV) into checked records.

Every reader returns a `StoreData` or raises ImportFileError listing each bad record; nothing
here touches the database. docs/data-formats.md describes the formats.
"""

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from conversations.domain.text import text_problem
from conversations.importing import ImportFileError

FORMATS = ("auto", "json", "csv", "tau2")
CENT = Decimal("0.01")

# Field limits, checked here so that SQLite and PostgreSQL reject the same files.
MAX_ID = 64
MAX_CUSTOMER_ID = 128
MAX_NAME = 100
MAX_PRODUCT_NAME = 200
MAX_STATUS = 40
MAX_CARRIER = 60
MAX_EMAIL = 254

CSV_COLUMNS = (
    "order_number",
    "status",
    "placed_at",
    "currency",
    "customer_id",
    "customer_email",
    "customer_first_name",
    "customer_last_name",
    "ship_address1",
    "ship_address2",
    "ship_city",
    "ship_state",
    "ship_zip",
    "ship_country",
    "product_id",
    "item_id",
    "item_name",
    "item_options",
    "price",
    "tracking_number",
    "carrier",
    "payment_method_id",
)
CSV_REQUIRED = ("order_number", "status", "customer_id", "product_id", "item_id", "price")


@dataclass
class CustomerRecord:
    external_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    # None: the file does not say; an existing customer keeps what it has.
    address: dict[str, Any] | None = None
    payment_methods: dict[str, Any] | None = None


@dataclass
class VariantRecord:
    item_id: str
    options: dict[str, Any]
    price: Decimal
    available: bool


@dataclass
class ProductRecord:
    external_id: str
    name: str
    variants: list[VariantRecord]


@dataclass
class LineRecord:
    product_id: str
    item_id: str
    name: str
    options: dict[str, Any]
    price: Decimal


@dataclass
class FulfillmentRecord:
    tracking_numbers: list[str]
    item_ids: list[str]
    carrier: str = ""


@dataclass
class PaymentRecord:
    transaction_type: str
    amount: Decimal
    method_id: str


@dataclass
class ImportedOrder:
    """One order as read from an import file, before it is stored."""

    number: str
    customer_id: str
    status: str
    lines: list[LineRecord]
    fulfillments: list[FulfillmentRecord] = field(default_factory=list)
    payments: list[PaymentRecord] = field(default_factory=list)
    shipping_address: dict[str, Any] = field(default_factory=dict)
    placed_at: datetime | None = None
    currency: str = "USD"

    @property
    def total(self) -> Decimal:
        return sum((line.price for line in self.lines), Decimal("0.00"))


@dataclass
class StoreData:
    format: str
    customers: list[CustomerRecord] = field(default_factory=list)
    products: list[ProductRecord] = field(default_factory=list)
    orders: list[ImportedOrder] = field(default_factory=list)


class _Problems:
    """Collects one message per bad value, each naming the record it came from."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def text(self, where: str, value: Any, name: str, *, max_length: int, required=True) -> str:
        if value is None or value == "":
            if required:
                self.add(where, f"{name} is missing")
            return ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.add(where, f"{name} must be text, got {value!r}")
            return ""
        if not self.storable(where, value, name):
            return ""
        value = value.strip()
        if len(value) > max_length:
            self.add(where, f"{name} is longer than {max_length} characters")
            return ""
        return value

    def money(self, where: str, value: Any, name: str) -> Decimal:
        if isinstance(value, bool) or value is None or value == "":
            self.add(where, f"{name} is missing" if value in (None, "") else f"{name}: {value!r}")
            return Decimal("0.00")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self.add(where, f"{name} must be a number, got {value!r}")
            return Decimal("0.00")
        if not amount.is_finite() or amount < 0:
            self.add(where, f"{name} must be a positive amount, got {value!r}")
            return Decimal("0.00")
        if amount != amount.quantize(CENT):
            self.add(where, f"{name} has more than 2 decimal places: {value!r}")
            return Decimal("0.00")
        if amount >= Decimal("10000000000"):
            self.add(where, f"{name} is too large: {value!r}")
            return Decimal("0.00")
        return amount.quantize(CENT)

    def mapping(self, where: str, value: Any, name: str, *, record=False) -> dict[str, Any]:
        """An object; a record's fields are checked one by one, any other object whole."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(where, f"{name} must be an object, got {value!r}")
            return {}
        if not record and not self.storable(where, value, name):
            return {}
        return value

    def storable(self, where: str, value: Any, name: str) -> bool:
        """False (and a problem named) when the database would refuse this text."""
        problem = text_problem(value)
        if problem:
            self.add(where, f"{name}: {problem}")
        return problem is None

    def strings(self, where: str, value: Any, name: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(
            isinstance(item, str | int) and not isinstance(item, bool) for item in value
        ):
            self.add(where, f"{name} must be a list of text, got {value!r}")
            return []
        if not self.storable(where, value, name):
            return []
        return [str(item) for item in value]

    def email(self, where: str, value: Any) -> str:
        email = self.text(where, value, "email", max_length=MAX_EMAIL)
        if email:
            try:
                validate_email(email)
            except ValidationError:
                self.add(where, f"email {email!r} is not a valid address")
                return ""
        return email

    def when(self, where: str, value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        try:
            parsed = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            self.add(where, f"placed_at must be an ISO 8601 date and time, got {value!r}")
            return None
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        return parsed

    def currency(self, where: str, value: Any) -> str:
        if value in (None, ""):
            return "USD"
        if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
            self.add(where, f"currency must be a 3-letter code such as USD, got {value!r}")
            return "USD"
        return value.upper()

    def raise_if_any(self) -> None:
        if self.errors:
            raise ImportFileError(self.errors)


def store_file_read(*, path: Path, format: str = "auto") -> StoreData:
    """The records of an order file; `format` is auto (by content), json, csv or tau2."""
    if format not in FORMATS:
        raise ImportFileError([f"unknown format {format!r}: use one of {', '.join(FORMATS)}"])
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ImportFileError([f"{path}: cannot read the file ({error.strerror})"]) from error
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError([f"{path}: the file is not UTF-8 text"]) from error
    if format == "auto":
        format = "json" if text.lstrip().startswith(("{", "[")) else "csv"
    if format == "csv":
        return store_csv_parse(text=text)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportFileError(
            [f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"]
        ) from error
    return store_json_parse(document=document, format=format)


def store_json_parse(*, document: Any, format: str = "json") -> StoreData:
    """A parsed JSON document in the tau2 or the Supportbot layout (told apart by "users")."""
    if not isinstance(document, dict):
        raise ImportFileError(["the file must hold a JSON object with customers/products/orders"])
    is_tau2 = isinstance(document.get("users"), dict)
    if format == "tau2" or (format == "json" and is_tau2):
        return _tau2_parse(document)
    return _supportbot_json_parse(document)


def _tau2_parse(document: dict[str, Any]) -> StoreData:
    problems = _Problems()
    unknown = set(document) - {"products", "users", "orders"}
    if unknown:
        problems.add("file", f"unexpected top-level keys {sorted(unknown)} for the tau2 format")
    for key in ("products", "users", "orders"):
        if not isinstance(document.get(key, {}), dict):
            problems.add("file", f'"{key}" must be an object keyed by id')
    problems.raise_if_any()
    data = StoreData(format="tau2")
    for key, product in document.get("products", {}).items():
        where = f"products[{key!r}]"
        if not isinstance(product, dict):
            problems.add(where, "must be an object")
            continue
        variants = product.get("variants", {})
        if not isinstance(variants, dict):
            problems.add(where, '"variants" must be an object keyed by item id')
            variants = {}
        data.products.append(
            ProductRecord(
                external_id=problems.text(
                    where, product.get("product_id", key), "product_id", max_length=MAX_ID
                ),
                name=problems.text(where, product.get("name"), "name", max_length=MAX_PRODUCT_NAME),
                variants=[
                    _variant(problems, f"{where}.variants[{item_key!r}]", variant, item_key)
                    for item_key, variant in variants.items()
                ],
            )
        )
    for key, user in document.get("users", {}).items():
        where = f"users[{key!r}]"
        if not isinstance(user, dict):
            problems.add(where, "must be an object")
            continue
        name = problems.mapping(where, user.get("name"), "name")
        data.customers.append(
            CustomerRecord(
                external_id=problems.text(
                    where, user.get("user_id", key), "user_id", max_length=MAX_CUSTOMER_ID
                ),
                email=problems.email(where, user.get("email")),
                first_name=problems.text(
                    where, name.get("first_name"), "first_name", max_length=MAX_NAME, required=False
                ),
                last_name=problems.text(
                    where, name.get("last_name"), "last_name", max_length=MAX_NAME, required=False
                ),
                address=problems.mapping(where, user.get("address"), "address"),
                payment_methods=problems.mapping(
                    where, user.get("payment_methods"), "payment_methods"
                ),
            )
        )
    for key, order in document.get("orders", {}).items():
        where = f"orders[{key!r}]"
        if not isinstance(order, dict):
            problems.add(where, "must be an object")
            continue
        fulfillments = []
        for index, item in enumerate(
            _list(problems, where, order.get("fulfillments"), "fulfillments")
        ):
            here = f"{where}.fulfillments[{index}]"
            item = problems.mapping(here, item, "fulfillment", record=True)
            fulfillments.append(
                FulfillmentRecord(
                    tracking_numbers=problems.strings(here, item.get("tracking_id"), "tracking_id"),
                    item_ids=problems.strings(here, item.get("item_ids"), "item_ids"),
                )
            )
        payments = []
        history = _list(problems, where, order.get("payment_history"), "payment_history")
        for index, item in enumerate(history):
            here = f"{where}.payment_history[{index}]"
            payments.append(
                _payment(problems, here, problems.mapping(here, item, "payment", record=True))
            )
        data.orders.append(
            ImportedOrder(
                number=problems.text(
                    where, order.get("order_id", key), "order_id", max_length=MAX_ID
                ),
                customer_id=problems.text(
                    where, order.get("user_id"), "user_id", max_length=MAX_CUSTOMER_ID
                ),
                status=problems.text(where, order.get("status"), "status", max_length=MAX_STATUS),
                shipping_address=problems.mapping(where, order.get("address"), "address"),
                lines=_lines(problems, where, order.get("items"), "items"),
                fulfillments=fulfillments,
                payments=payments,
            )
        )
    problems.raise_if_any()
    _check_unique(data)
    return data


def _supportbot_json_parse(document: dict[str, Any]) -> StoreData:
    problems = _Problems()
    unknown = set(document) - {"customers", "products", "orders", "format"}
    if unknown:
        problems.add("file", f"unexpected top-level keys {sorted(unknown)}")
    if not any(key in document for key in ("customers", "products", "orders")):
        problems.add("file", 'expected "customers", "products" and/or "orders" lists')
    problems.raise_if_any()
    data = StoreData(format="json")
    for index, customer in enumerate(
        _list(problems, "file", document.get("customers"), "customers")
    ):
        where = f"customers[{index}]"
        customer = problems.mapping(where, customer, "customer", record=True)
        external_id = problems.text(where, customer.get("id"), "id", max_length=MAX_CUSTOMER_ID)
        where = f"customers[{index}] ({external_id})" if external_id else where
        methods = customer.get("payment_methods")
        data.customers.append(
            CustomerRecord(
                external_id=external_id,
                email=problems.email(where, customer.get("email")),
                first_name=problems.text(
                    where,
                    customer.get("first_name"),
                    "first_name",
                    max_length=MAX_NAME,
                    required=False,
                ),
                last_name=problems.text(
                    where,
                    customer.get("last_name"),
                    "last_name",
                    max_length=MAX_NAME,
                    required=False,
                ),
                address=problems.mapping(where, customer.get("address"), "address")
                if "address" in customer
                else None,
                payment_methods=None
                if methods is None
                else _payment_methods(problems, where, methods),
            )
        )
    for index, product in enumerate(_list(problems, "file", document.get("products"), "products")):
        where = f"products[{index}]"
        product = problems.mapping(where, product, "product", record=True)
        external_id = problems.text(where, product.get("id"), "id", max_length=MAX_ID)
        where = f"products[{index}] ({external_id})" if external_id else where
        variants = _list(problems, where, product.get("variants"), "variants")
        data.products.append(
            ProductRecord(
                external_id=external_id,
                name=problems.text(where, product.get("name"), "name", max_length=MAX_PRODUCT_NAME),
                variants=[
                    _variant(problems, f"{where}.variants[{i}]", variant, None)
                    for i, variant in enumerate(variants)
                ],
            )
        )
    names = {product.external_id: product.name for product in data.products}
    for index, order in enumerate(_list(problems, "file", document.get("orders"), "orders")):
        where = f"orders[{index}]"
        order = problems.mapping(where, order, "order", record=True)
        number = problems.text(where, order.get("number"), "number", max_length=MAX_ID)
        where = f"orders[{index}] ({number})" if number else where
        fulfillments = []
        for i, item in enumerate(_list(problems, where, order.get("fulfillments"), "fulfillments")):
            here = f"{where}.fulfillments[{i}]"
            item = problems.mapping(here, item, "fulfillment", record=True)
            fulfillments.append(
                FulfillmentRecord(
                    tracking_numbers=problems.strings(
                        here, item.get("tracking_numbers"), "tracking_numbers"
                    ),
                    item_ids=problems.strings(here, item.get("item_ids"), "item_ids"),
                    carrier=problems.text(
                        here, item.get("carrier"), "carrier", max_length=MAX_CARRIER, required=False
                    ),
                )
            )
        payments = []
        for i, item in enumerate(_list(problems, where, order.get("payments"), "payments")):
            here = f"{where}.payments[{i}]"
            payments.append(
                _payment(problems, here, problems.mapping(here, item, "payment", record=True))
            )
        data.orders.append(
            ImportedOrder(
                number=number,
                customer_id=problems.text(
                    where, order.get("customer"), "customer", max_length=MAX_CUSTOMER_ID
                ),
                status=problems.text(where, order.get("status"), "status", max_length=MAX_STATUS),
                placed_at=problems.when(where, order.get("placed_at")),
                currency=problems.currency(where, order.get("currency")),
                shipping_address=problems.mapping(
                    where, order.get("shipping_address"), "shipping_address"
                ),
                lines=_lines(problems, where, order.get("lines"), "lines", names=names),
                fulfillments=fulfillments,
                payments=payments,
            )
        )
    problems.raise_if_any()
    _check_unique(data)
    return data


def store_csv_parse(*, text: str) -> StoreData:
    """One row per order line; order and customer columns repeat on each of the order's rows."""
    problems = _Problems()
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in CSV_REQUIRED if name not in header]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if missing:
        problems.add("header", f"missing required columns: {', '.join(missing)}")
    if unknown:
        problems.add("header", f"unknown columns: {', '.join(unknown)}")
    problems.raise_if_any()
    reader.fieldnames = header
    data = StoreData(format="csv")
    orders: dict[str, ImportedOrder] = {}
    order_rows: dict[str, dict[str, str]] = {}
    customers: dict[str, CustomerRecord] = {}
    tracking: dict[str, dict[tuple[str, str], FulfillmentRecord]] = {}
    order_columns = ("status", "placed_at", "currency", "customer_id", "payment_method_id")
    for row_number, row in enumerate(reader, start=2):
        row = {key: (value or "").strip() for key, value in row.items() if key is not None}
        raw_number = row.get("order_number", "")
        where = f"row {row_number}" + (f" ({raw_number})" if raw_number else "")
        if not problems.storable(where, row, "a column"):
            continue
        number = problems.text(where, raw_number, "order_number", max_length=MAX_ID)
        if not number:
            continue
        address = {
            key: row.get(f"ship_{key}", "")
            for key in ("address1", "address2", "city", "state", "zip", "country")
            if row.get(f"ship_{key}")
        }
        customer_id = problems.text(
            where, row.get("customer_id"), "customer_id", max_length=MAX_CUSTOMER_ID
        )
        if customer_id and customer_id not in customers and row.get("customer_email"):
            customers[customer_id] = CustomerRecord(
                external_id=customer_id,
                email=problems.email(where, row.get("customer_email")),
                first_name=problems.text(
                    where,
                    row.get("customer_first_name"),
                    "customer_first_name",
                    max_length=MAX_NAME,
                    required=False,
                ),
                last_name=problems.text(
                    where,
                    row.get("customer_last_name"),
                    "customer_last_name",
                    max_length=MAX_NAME,
                    required=False,
                ),
                address=address or None,
            )
        line = LineRecord(
            product_id=problems.text(where, row.get("product_id"), "product_id", max_length=MAX_ID),
            item_id=problems.text(where, row.get("item_id"), "item_id", max_length=MAX_ID),
            name=problems.text(
                where,
                row.get("item_name") or row.get("product_id"),
                "item_name",
                max_length=MAX_PRODUCT_NAME,
            ),
            options=_csv_options(problems, where, row.get("item_options", "")),
            price=problems.money(where, row.get("price"), "price"),
        )
        order = orders.get(number)
        if order is None:
            order = orders[number] = ImportedOrder(
                number=number,
                customer_id=customer_id,
                status=problems.text(where, row.get("status"), "status", max_length=MAX_STATUS),
                placed_at=problems.when(where, row.get("placed_at")),
                currency=problems.currency(where, row.get("currency")),
                shipping_address=address,
                lines=[],
            )
            order_rows[number] = row
            tracking[number] = {}
        else:
            first = order_rows[number]
            for column in order_columns:
                if row.get(column, "") != first.get(column, ""):
                    problems.add(
                        where,
                        f"{column} {row.get(column)!r} differs from the order's first row "
                        f"({first.get(column)!r})",
                    )
        order.lines.append(line)
        if row.get("tracking_number"):
            key = (row["tracking_number"], row.get("carrier", ""))
            shipment = tracking[number].get(key)
            if shipment is None:
                shipment = tracking[number][key] = FulfillmentRecord(
                    tracking_numbers=[key[0]],
                    item_ids=[],
                    carrier=problems.text(
                        where, key[1], "carrier", max_length=MAX_CARRIER, required=False
                    ),
                )
            shipment.item_ids.append(line.item_id)
    for number, order in orders.items():
        order.fulfillments = list(tracking[number].values())
        method_id = order_rows[number].get("payment_method_id", "")
        if method_id:
            order.payments = [
                PaymentRecord(transaction_type="payment", amount=order.total, method_id=method_id)
            ]
    if not orders and not problems.errors:
        problems.add("file", "no order rows")
    problems.raise_if_any()
    data.customers = list(customers.values())
    data.orders = list(orders.values())
    _check_unique(data)
    return data


def _list(problems: _Problems, where: str, value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(where, f'"{name}" must be a list')
        return []
    return value


def _variant(problems: _Problems, where: str, variant: Any, item_key: str | None) -> VariantRecord:
    variant = problems.mapping(where, variant, "variant", record=True)
    available = variant.get("available", True)
    if not isinstance(available, bool):
        problems.add(where, f"available must be true or false, got {available!r}")
    return VariantRecord(
        item_id=problems.text(
            where, variant.get("item_id", item_key), "item_id", max_length=MAX_ID
        ),
        options=problems.mapping(where, variant.get("options"), "options"),
        price=problems.money(where, variant.get("price"), "price"),
        available=available is True,
    )


def _lines(
    problems: _Problems, where: str, value: Any, name: str, *, names: dict[str, str] | None = None
) -> list[LineRecord]:
    items = _list(problems, where, value, name)
    if not items:
        problems.add(where, f"an order needs at least one line in {name!r}")
    lines = []
    for index, item in enumerate(items):
        here = f"{where}.{name}[{index}]"
        item = problems.mapping(here, item, "line", record=True)
        product_id = problems.text(here, item.get("product_id"), "product_id", max_length=MAX_ID)
        lines.append(
            LineRecord(
                product_id=product_id,
                item_id=problems.text(here, item.get("item_id"), "item_id", max_length=MAX_ID),
                name=problems.text(
                    here,
                    item.get("name") or (names or {}).get(product_id),
                    "name",
                    max_length=MAX_PRODUCT_NAME,
                ),
                options=problems.mapping(here, item.get("options"), "options"),
                price=problems.money(here, item.get("price"), "price"),
            )
        )
    return lines


def _payment(problems: _Problems, where: str, item: dict[str, Any]) -> PaymentRecord:
    kind = item.get("transaction_type", item.get("type", "payment"))
    if kind not in ("payment", "refund"):
        problems.add(where, f'transaction type must be "payment" or "refund", got {kind!r}')
    return PaymentRecord(
        transaction_type=kind if kind in ("payment", "refund") else "payment",
        amount=problems.money(where, item.get("amount"), "amount"),
        method_id=problems.text(
            where,
            item.get("payment_method_id", item.get("method_id")),
            "method_id",
            max_length=MAX_ID,
        ),
    )


def _payment_methods(problems: _Problems, where: str, methods: Any) -> dict[str, Any]:
    if not isinstance(methods, list) or not all(isinstance(m, dict) for m in methods):
        problems.add(where, "payment_methods must be a list of objects with an id")
        return {}
    result = {}
    for method in methods:
        if not problems.storable(where, method, "payment_methods"):
            continue
        method_id = problems.text(where, method.get("id"), "payment method id", max_length=MAX_ID)
        result[method_id] = dict(method)
    return result


def _csv_options(problems: _Problems, where: str, value: str) -> dict[str, str]:
    options = {}
    for part in filter(None, (piece.strip() for piece in value.split("|"))):
        key, sep, option = part.partition("=")
        if not sep or not key.strip():
            problems.add(where, f'item_options must look like "color=blue|size=M", got {value!r}')
            return {}
        options[key.strip()] = option.strip()
    return options


def _check_unique(data: StoreData) -> None:
    problems = _Problems()
    for kind, keys in (
        ("customer", [customer.external_id for customer in data.customers]),
        ("product", [product.external_id for product in data.products]),
        ("order", [order.number for order in data.orders]),
    ):
        seen: set[str] = set()
        for key in keys:
            # Order numbers are looked up case-insensitively, so #DUP1 and #dup1 are one order.
            folded = key.lower() if kind == "order" else key
            if folded in seen:
                problems.add(f"{kind} {key}", "appears more than once in the file")
            seen.add(folded)
    for product in data.products:
        seen = set()
        for variant in product.variants:
            if variant.item_id in seen:
                problems.add(f"product {product.external_id}", f"item {variant.item_id} repeats")
            seen.add(variant.item_id)
    problems.raise_if_any()
