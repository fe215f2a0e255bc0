"""The demo store's page: the demo data's catalogue and orders that exist."""

import re

import pytest

from conversations.demo.loader import demo_catalogue, demo_orders_suggested, demo_store_seed
from conversations.models import Order


@pytest.fixture(autouse=True)
def plain_static(settings):
    # Pages link static files; the manifest exists only after collectstatic.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_the_demo_page_shows_the_demo_catalogue_and_real_orders(client, db):
    bot = demo_store_seed().bot
    page = client.get("/").content.decode()
    assert '<html lang="en">' in page
    shown = re.findall(r"<h3>([^<]+)</h3><p>([^<]+)</p>", page)
    assert ("Wireless Headphones", "$99 to $149 · color, noise cancelling") in shown
    assert ("Stoneware Mug", "$14 to $16.50 · color, size") in shown
    assert [name for name, _ in shown] == [p.name for p in demo_catalogue()]
    assert "W2611340" not in page and "Desk Plant" not in page
    suggested = demo_orders_suggested()
    assert len(suggested) == 3 and len({o.status for o in suggested}) == 3
    for order in suggested:
        assert f"Where is order {order.number}? My email is {order.email}" in page
        stored = Order.objects.get(bot=bot, number=order.number)
        assert stored.customer.email == order.email and stored.status == order.status
    # The help center the replies cite is one click away.
    assert f'href="/help/{bot.slug}/">Help center</a>' in page
    assert client.get(f"/help/{bot.slug}/").status_code == 200
    # An order to cancel and one to return, each the status its action needs.
    pending, delivered = demo_orders_suggested(statuses=("pending", "delivered"))
    assert f"cancel order {pending.number}, my email is {pending.email}" in page
    assert f"return order {delivered.number}, my email is {delivered.email}" in page
    for order in (pending, delivered):
        assert Order.objects.get(bot=bot, number=order.number).status == order.status


def test_the_demo_page_takes_a_language_to_try_the_widget_in(client, db):
    assert '<html lang="de-DE">' in client.get("/?lang=de-DE").content.decode()
    assert '<html lang="en">' in client.get("/?lang=<b>").content.decode()
