"""Importing a store's orders: customers, products and orders upserted on the store's own ids.

Re-importing the same file changes nothing: rows are compared with what is stored and only the
differences are written, in batches inside one transaction (a failure anywhere stores nothing).
An order's lines, fulfilments and payments are replaced as a whole when they differ, since the
file holds the whole order.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from django.db.models.functions import Lower

from conversations.importing import (
    ImportFileError,
    ImportReport,
    import_transaction,
    in_batches,
    progress_bar,
)
from conversations.importing.order_formats import (
    CustomerRecord,
    ImportedOrder,
    ProductRecord,
    StoreData,
    store_file_read,
)
from conversations.models import (
    Bot,
    Fulfillment,
    Order,
    OrderLine,
    Payment,
    Product,
    ProductVariant,
    StoreCustomer,
)

BATCH_SIZE = 500


def orders_import(
    *,
    bot: Bot,
    path: Path,
    format: str = "auto",
    dry_run: bool = False,
    progress: bool = False,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import an order file for `bot`; raises ImportFileError (storing nothing) on a bad file."""
    data = store_file_read(path=path, format=format)
    return store_data_import(
        bot=bot, data=data, dry_run=dry_run, progress=progress, batch_size=batch_size
    )


def store_data_import(
    *,
    bot: Bot,
    data: StoreData,
    dry_run: bool = False,
    progress: bool = False,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Upsert checked records; a dry run does all the work and then rolls it back."""
    _check_customers_known(bot=bot, data=data)
    report = ImportReport(format=data.format, dry_run=dry_run)
    for kind in ("customers", "products", "variants", "orders"):
        report.counts(kind)
    total = len(data.customers) + len(data.products) + len(data.orders)
    with (
        progress_bar(total=total, desc="Importing", enabled=progress) as bar,
        import_transaction(dry_run=dry_run),
    ):
        for batch in in_batches(data.customers, size=batch_size):
            _customers_upsert(bot=bot, records=batch, report=report)
            bar.update(len(batch))
        for batch in in_batches(data.products, size=batch_size):
            _products_upsert(bot=bot, records=batch, report=report)
            bar.update(len(batch))
        for batch in in_batches(data.orders, size=batch_size):
            _orders_upsert(bot=bot, records=batch, report=report)
            bar.update(len(batch))
    return report


def _check_customers_known(*, bot: Bot, data: StoreData) -> None:
    in_file = {customer.external_id for customer in data.customers}
    referenced = {order.customer_id for order in data.orders} - in_file
    stored: set[str] = set()
    for batch in in_batches(sorted(referenced), size=BATCH_SIZE):
        stored.update(
            StoreCustomer.objects.filter(bot=bot, external_id__in=batch).values_list(
                "external_id", flat=True
            )
        )
    errors = [
        f"order {order.number}: customer {order.customer_id!r} is neither in the file nor stored"
        for order in data.orders
        if order.customer_id not in in_file and order.customer_id not in stored
    ]
    if errors:
        raise ImportFileError(errors)


def _assign(row: Any, values: dict[str, Any]) -> list[str]:
    """Set the values that differ; the names of the changed fields."""
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, values[name])
    return changed


def _rows_upsert(
    model: Any,
    *,
    stored: dict[Any, Any],
    wanted: Iterable[tuple[Any, dict[str, Any], dict[str, Any]]],
    counts: Any,
) -> dict[Any, Any]:
    """Create the rows `stored` lacks, update the ones whose values differ, count the rest.

    `wanted` gives (key, values, identity) per row: the values to keep current, and what a
    new row needs besides them. Returns every row by key, the new ones included.
    """
    new, changed_rows, changed_fields = [], [], set()
    for key, values, identity in wanted:
        row = stored.get(key)
        if row is None:
            new.append((key, model(**identity, **values)))
            continue
        changed = _assign(row, values)
        if changed:
            changed_rows.append(row)
            changed_fields.update(changed)
        else:
            counts.unchanged += 1
    model.objects.bulk_create([row for _, row in new])
    if changed_rows:
        model.objects.bulk_update(changed_rows, sorted(changed_fields))
    counts.created += len(new)
    counts.updated += len(changed_rows)
    return {**stored, **dict(new)}


def _customers_upsert(*, bot: Bot, records: Sequence[CustomerRecord], report: ImportReport) -> None:
    stored = {
        customer.external_id: customer
        for customer in StoreCustomer.objects.filter(
            bot=bot, external_id__in=[record.external_id for record in records]
        )
    }

    def wanted():
        for record in records:
            values = {
                "email": record.email,
                "first_name": record.first_name,
                "last_name": record.last_name,
            }
            if record.address is not None:
                values["address"] = record.address
            if record.payment_methods is not None:
                values["payment_methods"] = record.payment_methods
            yield record.external_id, values, {"bot": bot, "external_id": record.external_id}

    _rows_upsert(StoreCustomer, stored=stored, wanted=wanted(), counts=report.counts("customers"))


def _products_upsert(*, bot: Bot, records: Sequence[ProductRecord], report: ImportReport) -> None:
    stored = {
        product.external_id: product
        for product in Product.objects.filter(
            bot=bot, external_id__in=[record.external_id for record in records]
        )
    }
    by_id = _rows_upsert(
        Product,
        stored=stored,
        wanted=(
            (r.external_id, {"name": r.name}, {"bot": bot, "external_id": r.external_id})
            for r in records
        ),
        counts=report.counts("products"),
    )
    stored_variants = {
        (variant.product_id, variant.item_id): variant
        for variant in ProductVariant.objects.filter(product__in=list(by_id.values()))
    }
    _rows_upsert(
        ProductVariant,
        stored=stored_variants,
        wanted=(
            (
                (by_id[record.external_id].pk, item.item_id),
                {"options": item.options, "price": item.price, "available": item.available},
                {"product": by_id[record.external_id], "item_id": item.item_id},
            )
            for record in records
            for item in record.variants
        ),
        counts=report.counts("variants"),
    )


def _lines_of(record: ImportedOrder, order: Order) -> list[OrderLine]:
    return [
        OrderLine(
            order=order,
            position=position,
            product_id=line.product_id,
            item_id=line.item_id,
            name=line.name,
            options=line.options,
            price=line.price,
        )
        for position, line in enumerate(record.lines, start=1)
    ]


def _fulfillments_of(record: ImportedOrder, order: Order) -> list[Fulfillment]:
    return [
        Fulfillment(
            order=order,
            position=position,
            tracking_numbers=item.tracking_numbers,
            item_ids=item.item_ids,
            carrier=item.carrier,
        )
        for position, item in enumerate(record.fulfillments, start=1)
    ]


def _payments_of(
    record: ImportedOrder, order: Order, methods: dict[str, dict[str, Any]]
) -> list[Payment]:
    return [
        Payment(
            order=order,
            position=position,
            transaction_type=item.transaction_type,
            amount=item.amount,
            method_id=item.method_id,
            method=methods.get(item.method_id) or {},
        )
        for position, item in enumerate(record.payments, start=1)
    ]


CHILD_FIELDS = {
    OrderLine: ("position", "product_id", "item_id", "name", "options", "price"),
    Fulfillment: ("position", "tracking_numbers", "item_ids", "carrier"),
    Payment: ("position", "transaction_type", "amount", "method_id", "method"),
}


def _same(stored: Sequence[Any], wanted: Sequence[Any], fields: Sequence[str]) -> bool:
    def key(row: Any) -> list[Any]:
        return [getattr(row, name) for name in fields]

    return [key(row) for row in stored] == [key(row) for row in wanted]


def _orders_upsert(*, bot: Bot, records: Sequence[ImportedOrder], report: ImportReport) -> None:
    counts = report.counts("orders")
    customers = {
        customer.external_id: customer
        for customer in StoreCustomer.objects.filter(
            bot=bot, external_id__in={record.customer_id for record in records}
        ).only("id", "external_id", "payment_methods")
    }
    # Matched case-insensitively, as the order tools look them up: #dup1 updates #DUP1.
    stored = {
        order.number.lower(): order
        for order in Order.objects.annotate(number_folded=Lower("number"))
        .filter(bot=bot, number_folded__in=[record.number.lower() for record in records])
        .prefetch_related("lines", "fulfillments", "payments")
    }
    new_orders: list[tuple[ImportedOrder, Order]] = []
    changed_orders, changed_fields = [], set()
    children_new: dict[type, list[Any]] = {OrderLine: [], Fulfillment: [], Payment: []}
    children_stale: dict[type, list[int]] = {OrderLine: [], Fulfillment: [], Payment: []}
    for record in records:
        customer = customers[record.customer_id]
        values = {
            "customer_id": customer.pk,
            "status": record.status,
            "shipping_address": record.shipping_address,
            "placed_at": record.placed_at,
            "total": record.total,
            "currency": record.currency,
        }
        order = stored.get(record.number.lower())
        if order is None:
            new_orders.append((record, Order(bot=bot, number=record.number, **values)))
            continue
        changed = _assign(order, values)
        wanted = {
            OrderLine: (_lines_of(record, order), order.lines.all()),
            Fulfillment: (_fulfillments_of(record, order), order.fulfillments.all()),
            Payment: (
                _payments_of(record, order, customer.payment_methods),
                order.payments.all(),
            ),
        }
        children_changed = False
        for model, (rows, current) in wanted.items():
            if not _same(list(current), rows, CHILD_FIELDS[model]):
                children_stale[model].extend(row.pk for row in current)
                children_new[model].extend(rows)
                children_changed = True
        if changed:
            changed_orders.append(order)
            changed_fields.update(changed)
        if changed or children_changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    Order.objects.bulk_create([order for _, order in new_orders])
    counts.created += len(new_orders)
    if changed_orders:
        Order.objects.bulk_update(changed_orders, sorted(changed_fields))
    for record, order in new_orders:
        methods = customers[record.customer_id].payment_methods
        children_new[OrderLine].extend(_lines_of(record, order))
        children_new[Fulfillment].extend(_fulfillments_of(record, order))
        children_new[Payment].extend(_payments_of(record, order, methods))
    for model in (OrderLine, Fulfillment, Payment):
        if children_stale[model]:
            model.objects.filter(pk__in=children_stale[model]).delete()
        model.objects.bulk_create(children_new[model])
