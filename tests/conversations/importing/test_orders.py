import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from conversations.importing import ImportFileError
from conversations.importing.orders import orders_import
from conversations.models import (
    Fulfillment,
    Order,
    OrderLine,
    Payment,
    Product,
    ProductVariant,
    StoreCustomer,
)

TAU2 = Path(__file__).resolve().parents[2] / "data" / "tau2-retail" / "db.json"
STORE_MODELS = (StoreCustomer, Product, ProductVariant, Order, OrderLine, Fulfillment, Payment)


def store_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in STORE_MODELS}


def store_checksum() -> str:
    """A digest of every stored row, ids included: any write that changes data changes it."""
    digest = hashlib.sha256()
    for model in STORE_MODELS:
        names = [field.attname for field in model._meta.concrete_fields]
        for row in model.objects.order_by("pk").values_list(*names):
            digest.update(json.dumps(row, default=str, sort_keys=True).encode())
    return digest.hexdigest()


def write_json(tmp_path: Path, document, name="store.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


SIMPLE = {
    "customers": [
        {
            "id": "c1",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "address": {"city": "London"},
            "payment_methods": [{"id": "card-1", "source": "credit_card", "last_four": "4242"}],
        }
    ],
    "products": [
        {
            "id": "p1",
            "name": "Mug",
            "variants": [{"item_id": "m1", "options": {"color": "red"}, "price": 12.5}],
        }
    ],
    "orders": [
        {
            "number": "#A1",
            "customer": "c1",
            "status": "delivered",
            "placed_at": "2026-10-01T12:00:00Z",
            "lines": [
                {"product_id": "p1", "item_id": "m1", "price": 12.5},
                {"product_id": "p1", "item_id": "m1", "name": "Mug", "price": "7.25"},
            ],
            "fulfillments": [{"tracking_numbers": ["1Z1"], "item_ids": ["m1"], "carrier": "UPS"}],
            "payments": [{"type": "payment", "amount": 19.75, "method_id": "card-1"}],
        }
    ],
}


def test_tau2_imports_completely_and_reimport_changes_nothing(bot):
    document = json.loads(TAU2.read_text())
    orders = document["orders"].values()
    expected = {
        "StoreCustomer": len(document["users"]),
        "Product": len(document["products"]),
        "ProductVariant": sum(len(p["variants"]) for p in document["products"].values()),
        "Order": len(document["orders"]),
        "OrderLine": sum(len(o["items"]) for o in orders),
        "Fulfillment": sum(len(o["fulfillments"]) for o in orders),
        "Payment": sum(len(o["payment_history"]) for o in orders),
    }
    assert (expected["StoreCustomer"], expected["Order"], expected["Product"]) == (500, 1000, 50)

    report = orders_import(bot=bot, path=TAU2)
    assert report.format == "tau2"
    assert store_counts() == expected
    assert report.counts("orders").created == 1000
    assert report.counts("variants").created == expected["ProductVariant"]

    order = Order.objects.get(bot=bot, number="#W2611340")
    assert order.customer.external_id == "james_li_5688"
    assert order.status == "processed"
    assert order.total == Decimal("47.84") + Decimal("488.81")
    assert [line.item_id for line in order.lines.all()] == ["6469567736", "8426249116"]
    assert order.fulfillments.get().tracking_numbers == ["357962501027"]
    payment = order.payments.get()
    assert payment.amount == Decimal("536.65") and payment.method_id == "gift_card_1725971"
    assert payment.method["source"] == "gift_card"

    before = store_checksum()
    again = orders_import(bot=bot, path=TAU2, format="tau2")
    assert again.changed == 0
    assert again.counts("orders").unchanged == 1000
    assert store_counts() == expected
    assert store_checksum() == before


def test_supportbot_json_format(bot, tmp_path):
    report = orders_import(bot=bot, path=write_json(tmp_path, SIMPLE))
    assert report.format == "json"
    order = Order.objects.get(bot=bot, number="#A1")
    assert order.total == Decimal("19.75")
    assert order.placed_at.isoformat() == "2026-10-01T12:00:00+00:00"
    assert [line.name for line in order.lines.all()] == ["Mug", "Mug"]
    assert order.fulfillments.get().carrier == "UPS"
    assert order.payments.get().method == {
        "id": "card-1",
        "source": "credit_card",
        "last_four": "4242",
    }
    customer = StoreCustomer.objects.get(bot=bot, external_id="c1")
    assert customer.payment_methods["card-1"]["last_four"] == "4242"


def test_changed_order_is_updated_in_place(bot, tmp_path):
    orders_import(bot=bot, path=write_json(tmp_path, SIMPLE))
    order_pk = Order.objects.get().pk
    changed = json.loads(json.dumps(SIMPLE))
    changed["orders"][0]["status"] = "returned"
    changed["orders"][0]["lines"].pop()
    changed["orders"][0]["payments"].append(
        {"type": "refund", "amount": 12.5, "method_id": "card-1"}
    )
    report = orders_import(bot=bot, path=write_json(tmp_path, changed))
    assert (report.counts("orders").updated, report.counts("customers").unchanged) == (1, 1)
    order = Order.objects.get()
    assert order.pk == order_pk and order.status == "returned" and order.total == Decimal("12.50")
    assert order.lines.count() == 1
    assert [p.transaction_type for p in order.payments.all()] == ["payment", "refund"]


def test_csv_format(bot, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_number,status,placed_at,customer_id,customer_email,customer_first_name,"
        "ship_city,product_id,item_id,item_name,item_options,price,tracking_number,carrier,"
        "payment_method_id\n"
        "#C1,delivered,2026-10-02T09:00:00,c9,bo@example.com,Bo,Oslo,p1,i1,Mug,color=red|size=L,"
        "10.00,TRACK1,DHL,card-9\n"
        "#C1,delivered,2026-10-02T09:00:00,c9,bo@example.com,Bo,Oslo,p2,i2,Tee,,5.50,TRACK1,DHL,"
        "card-9\n"
        "#C2,pending,,c9,bo@example.com,Bo,Oslo,p1,i1,Mug,color=red|size=L,10.00,,,\n"
    )
    report = orders_import(bot=bot, path=path)
    assert report.format == "csv"
    assert (report.counts("orders").created, report.counts("customers").created) == (2, 1)
    first = Order.objects.get(number="#C1")
    assert first.total == Decimal("15.50") and first.shipping_address == {"city": "Oslo"}
    assert first.lines.first().options == {"color": "red", "size": "L"}
    shipment = first.fulfillments.get()
    assert (shipment.tracking_numbers, shipment.item_ids, shipment.carrier) == (
        ["TRACK1"],
        ["i1", "i2"],
        "DHL",
    )
    assert first.payments.get().amount == Decimal("15.50")
    assert not Order.objects.get(number="#C2").payments.exists()
    before = store_checksum()
    assert orders_import(bot=bot, path=path, format="csv").changed == 0
    assert store_checksum() == before


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["orders"][0].update(customer="nobody"), "customer 'nobody' is neither"),
        (lambda d: d["orders"][0]["lines"][0].update(price="abc"), "price must be a number"),
        (lambda d: d["orders"][0]["lines"][0].update(price=1.234), "more than 2 decimal places"),
        (lambda d: d["orders"][0].update(lines=[]), "at least one line"),
        (lambda d: d["customers"][0].update(email="not-an-email"), "is not a valid address"),
        (lambda d: d["orders"].append(dict(d["orders"][0])), "appears more than once"),
        (lambda d: d["orders"][0].update(placed_at="yesterday"), "ISO 8601"),
        (lambda d: d["orders"][0].update(status="x" * 41), "longer than 40"),
        (lambda d: d.update(users=[]), "unexpected top-level keys"),
    ],
)
def test_bad_json_names_the_record_and_stores_nothing(bot, tmp_path, mutate, expected):
    document = json.loads(json.dumps(SIMPLE))
    mutate(document)
    with pytest.raises(ImportFileError) as raised:
        orders_import(bot=bot, path=write_json(tmp_path, document))
    assert expected in str(raised.value)
    assert "nothing was imported" in str(raised.value)
    assert all(count == 0 for count in store_counts().values())


def test_error_message_points_at_the_offending_order(bot, tmp_path):
    document = json.loads(json.dumps(SIMPLE))
    document["orders"][0]["lines"][1]["price"] = -3
    with pytest.raises(ImportFileError) as raised:
        orders_import(bot=bot, path=write_json(tmp_path, document))
    assert raised.value.errors == [
        "orders[0] (#A1).lines[1]: price must be a positive amount, got -3"
    ]


def test_bad_tau2_record_stores_nothing(bot, tmp_path):
    document = json.loads(TAU2.read_text())
    next(iter(document["orders"].values()))["items"][0]["price"] = "free"
    with pytest.raises(ImportFileError, match=r"orders\['#W2611340'\]\.items\[0\]: price"):
        orders_import(bot=bot, path=write_json(tmp_path, document))
    assert all(count == 0 for count in store_counts().values())


def test_unreadable_files(bot, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"orders": [')
    with pytest.raises(ImportFileError, match="not valid JSON"):
        orders_import(bot=bot, path=broken)
    with pytest.raises(ImportFileError, match="cannot read the file"):
        orders_import(bot=bot, path=tmp_path / "missing.json")
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("number,price\n1,2\n")
    with pytest.raises(ImportFileError, match="missing required columns: order_number"):
        orders_import(bot=bot, path=csv_file)


def test_csv_rows_of_one_order_must_agree(bot, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_number,status,customer_id,customer_email,product_id,item_id,price\n"
        "#C1,pending,c1,a@example.com,p1,i1,1.00\n"
        "#C1,delivered,c1,a@example.com,p1,i1,1.00\n"
    )
    with pytest.raises(ImportFileError, match="row 3 \\(#C1\\): status 'delivered' differs"):
        orders_import(bot=bot, path=path)


def test_command_imports_reports_and_dry_runs(bot, tmp_path, capsys):
    path = write_json(tmp_path, SIMPLE)
    call_command("import_orders", str(path), "--bot", bot.slug, "--dry-run")
    assert "Dry run" in capsys.readouterr().out
    assert Order.objects.count() == 0
    call_command("import_orders", str(path), "--bot", bot.slug)
    out = capsys.readouterr().out
    assert "orders: 1 created, 0 updated, 0 unchanged" in out
    call_command("import_orders", str(path), "--bot", bot.slug, "--format", "json")
    assert "No changes." in capsys.readouterr().out


def test_command_errors(bot, tmp_path):
    with pytest.raises(CommandError, match="No bot with slug 'nope'"):
        call_command("import_orders", str(TAU2), "--bot", "nope")
    path = write_json(tmp_path, {"orders": [{"number": "#1"}]})
    with pytest.raises(CommandError, match="customer is missing"):
        call_command("import_orders", str(path), "--bot", bot.slug)


def test_csv_row_without_order_number(bot, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_number,status,customer_id,customer_email,product_id,item_id,price\n"
        ",pending,c1,a@example.com,p1,i1,1.00\n"
    )
    with pytest.raises(ImportFileError) as raised:
        orders_import(bot=bot, path=path)
    assert raised.value.errors == ["row 2: order_number is missing"]


def test_small_batches_and_dry_runs(bot, tmp_path):
    document = json.loads(json.dumps(SIMPLE))
    document["orders"].append(dict(document["orders"][0], number="#A2"))
    path = write_json(tmp_path, document)
    dry = orders_import(bot=bot, path=path, dry_run=True, batch_size=1)
    assert dry.dry_run and dry.counts("orders").created == 2
    assert all(count == 0 for count in store_counts().values())
    report = orders_import(bot=bot, path=path, batch_size=1)
    assert report.counts("orders").created == 2
    assert store_counts()["OrderLine"] == 4


def _many_orders(count: int) -> dict:
    document = json.loads(json.dumps(SIMPLE))
    first = document["orders"][0]
    document["orders"] = [
        json.loads(json.dumps(dict(first, number=f"#N{index}"))) for index in range(count)
    ]
    return document


BAD_TEXT = [
    pytest.param("status", "deli\x00vered", "NUL", id="nul-in-status"),
    pytest.param("status", "deli\ud800vered", "valid Unicode", id="surrogate-in-status"),
    pytest.param("shipping_address", {"city": "Lon\x00don"}, "NUL", id="nul-in-address"),
    pytest.param(
        "shipping_address", {"ci\udc00ty": "London"}, "valid Unicode", id="surrogate-in-key"
    ),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_TEXT)
def test_unstorable_text_in_record_550_of_600_stores_nothing(bot, tmp_path, key, value, expected):
    document = _many_orders(600)
    document["orders"][549][key] = value
    # json.dumps escapes NUL and lone surrogates as \u0000 / \ud800, as a real file would hold.
    path = write_json(tmp_path, document)
    with pytest.raises(CommandError) as raised:
        call_command("import_orders", str(path), "--bot", bot.slug)
    assert "orders[549] (#N549)" in str(raised.value)
    assert expected in str(raised.value)
    assert "nothing was imported" in str(raised.value)
    assert all(count == 0 for count in store_counts().values())


def test_unstorable_text_in_a_line_name_is_named(bot, tmp_path):
    document = _many_orders(3)
    document["orders"][2]["lines"][0]["name"] = "Mu\x00g"
    with pytest.raises(ImportFileError, match=r"orders\[2\] \(#N2\)\.lines\[0\]: .*NUL"):
        orders_import(bot=bot, path=write_json(tmp_path, document))
    assert all(count == 0 for count in store_counts().values())


def test_a_failure_in_a_late_batch_leaves_nothing(bot, tmp_path, monkeypatch):
    from conversations.importing import orders as orders_module

    real = orders_module._orders_upsert
    calls = []

    def failing(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        real(**kwargs)

    monkeypatch.setattr(orders_module, "_orders_upsert", failing)
    with pytest.raises(RuntimeError):
        orders_import(bot=bot, path=write_json(tmp_path, _many_orders(30)), batch_size=10)
    assert all(count == 0 for count in store_counts().values())


def test_order_numbers_differing_only_by_case_are_duplicates(bot, tmp_path):
    document = _many_orders(2)
    document["orders"][0]["number"] = "#DUP1"
    document["orders"][1]["number"] = "#dup1"
    with pytest.raises(ImportFileError, match=r"order #dup1: appears more than once"):
        orders_import(bot=bot, path=write_json(tmp_path, document))
    assert store_counts()["Order"] == 0


def test_a_stored_order_is_matched_whatever_the_case(bot, tmp_path):
    document = _many_orders(1)
    document["orders"][0]["number"] = "#DUP1"
    orders_import(bot=bot, path=write_json(tmp_path, document))
    document["orders"][0]["number"] = "#dup1"
    document["orders"][0]["status"] = "cancelled"
    report = orders_import(bot=bot, path=write_json(tmp_path, document))
    assert report.counts("orders").updated == 1
    assert list(Order.objects.values_list("number", "status")) == [("#DUP1", "cancelled")]
