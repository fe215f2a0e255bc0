import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from conversations.demo.loader import DEMO_FAQ_FILE, DEMO_STORE_FILE, demo_store_seed
from conversations.models import Bot, Conversation, FaqEntry, Order, StoreCustomer
from tests.conversations.importing.test_orders import store_checksum, store_counts

FAQ_FIXTURE = Path(__file__).resolve().parents[2] / "data" / "faq" / "faq.json"


@pytest.fixture
def demo_files(tmp_path):
    """The shipped store.json, with our own FAQ fixture (faq.json belongs to another module)."""
    faq = tmp_path / "faq.json"
    shutil.copy(FAQ_FIXTURE, faq)
    return {"store_file": DEMO_STORE_FILE, "faq_file": faq}


def test_demo_store_has_the_documented_shape(db, demo_files):
    result = demo_store_seed(**demo_files)
    bot = result.bot
    assert bot.slug == "demo" and result.bot_created
    assert bot.allowed_origins == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert StoreCustomer.objects.filter(bot=bot).count() == 15
    assert Order.objects.filter(bot=bot).count() == 30
    statuses = set(Order.objects.filter(bot=bot).values_list("status", flat=True))
    assert statuses == {"pending", "processed", "delivered", "cancelled", "returned"}
    order = Order.objects.get(bot=bot, number="#D1001")
    assert order.customer.email == "demo@example.com"
    assert order.fulfillments.get().tracking_numbers
    assert order.payments.exists()
    for returned in Order.objects.filter(bot=bot, status="returned"):
        kinds = [p.transaction_type for p in returned.payments.all()]
        assert kinds == ["payment", "refund"]
    assert FaqEntry.objects.filter(bot=bot).count() == 3


def test_seeding_twice_changes_nothing(db, demo_files):
    demo_store_seed(**demo_files)
    counts, checksum = store_counts(), store_checksum()
    faq = list(FaqEntry.objects.values())
    again = demo_store_seed(**demo_files)
    assert not again.bot_created and again.orders.changed == 0 and again.faq.changed == 0
    assert (store_counts(), store_checksum()) == (counts, checksum)
    assert list(FaqEntry.objects.values()) == faq


def test_without_faq_file_the_faq_is_skipped(db, tmp_path):
    result = demo_store_seed(faq_file=tmp_path / "absent.json")
    assert result.faq is None and not FaqEntry.objects.exists()


def test_command_is_idempotent(db, capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    assert "Created bot 'demo'" in first and "orders: 30 created" in first
    # A few hundred past conversations by default, so that the dashboard shows something.
    assert "conversations: 300 generated" in first
    assert Conversation.objects.exclude(topic="").count() == 300
    bot_key = Bot.objects.get(slug="demo").public_key
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert "Kept bot 'demo'" in second and "orders: 0 created, 0 updated, 30 unchanged" in second
    assert "conversations: 0 generated" in second and Conversation.objects.count() == 300
    assert Bot.objects.get(slug="demo").public_key == bot_key
    if not DEMO_FAQ_FILE.exists():
        assert "FAQ skipped" in second
