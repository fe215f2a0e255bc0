"""Loading the demo store: the demo bot, its orders (store.json), its FAQ (faq.json) and its
help center (help/, Markdown articles)."""

import functools
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from conversations.agents.access import agents_group_ensure
from conversations.importing import ImportReport
from conversations.importing.articles import articles_import
from conversations.importing.faq import faq_import
from conversations.importing.orders import orders_import
from conversations.models import Bot

DEMO_DIR = Path(__file__).resolve().parent
DEMO_STORE_FILE = DEMO_DIR / "store.json"
DEMO_FAQ_FILE = DEMO_DIR / "faq.json"
DEMO_HELP_DIR = DEMO_DIR / "help"
DEMO_SLUG = "demo"
DEMO_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]


@dataclass
class DemoStoreResult:
    bot: Bot
    bot_created: bool
    orders: ImportReport
    faq: ImportReport | None
    articles: ImportReport | None = None


def demo_store_seed(
    *,
    store_file: Path = DEMO_STORE_FILE,
    faq_file: Path = DEMO_FAQ_FILE,
    help_dir: Path = DEMO_HELP_DIR,
    progress: bool = False,
) -> DemoStoreResult:
    """Create the demo bot and load its store, FAQ and articles; a second run changes nothing."""
    bot, created = Bot.objects.get_or_create(
        slug=DEMO_SLUG, defaults={"name": "Demo Store", "allowed_origins": DEMO_ORIGINS}
    )
    # The demo's agents (the "agents" group; `make run`'s agent login is in it) handle it.
    bot.agent_groups.add(agents_group_ensure())
    orders = orders_import(bot=bot, path=store_file, format="json", progress=progress)
    faq = faq_import(bot=bot, path=faq_file, progress=progress) if faq_file.exists() else None
    articles = (
        articles_import(bot=bot, paths=[help_dir], progress=progress) if help_dir.exists() else None
    )
    return DemoStoreResult(bot=bot, bot_created=created, orders=orders, faq=faq, articles=articles)


@dataclass(frozen=True)
class DemoProduct:
    name: str
    price_from: Decimal
    price_to: Decimal
    options: str

    @property
    def price_label(self) -> str:
        """ "$14" or "$14 to $16.50": the store's USD prices as a shopper reads them."""
        low, high = _dollars(self.price_from), _dollars(self.price_to)
        return low if low == high else f"{low} to {high}"


def _dollars(amount: Decimal) -> str:
    return f"${amount:.0f}" if amount == amount.to_integral_value() else f"${amount:.2f}"


@dataclass(frozen=True)
class DemoOrder:
    number: str
    status: str
    email: str
    items: str


@functools.cache
def _store_data(store_file: Path = DEMO_STORE_FILE) -> dict[str, Any]:
    return json.loads(store_file.read_text(encoding="utf-8"))


def demo_catalogue(*, store_file: Path = DEMO_STORE_FILE) -> list[DemoProduct]:
    """The demo page's products: the same catalogue the bot's order data comes from."""
    products = []
    for product in _store_data(store_file)["products"]:
        prices = [Decimal(str(v["price"])) for v in product["variants"]]
        choices = {key for v in product["variants"] for key in v.get("options", {})}
        products.append(
            DemoProduct(
                name=product["name"],
                price_from=min(prices),
                price_to=max(prices),
                options=", ".join(sorted(choices)),
            )
        )
    return products


def demo_orders_suggested(
    *, store_file: Path = DEMO_STORE_FILE, count: int = 3, statuses: tuple[str, ...] = ()
) -> list[DemoOrder]:
    """A few real demo orders, each in a different status (the first of each of `statuses`,
    in that order, when given), with the email that proves them."""
    data = _store_data(store_file)
    emails = {customer["id"]: customer["email"] for customer in data["customers"]}
    chosen: dict[str, DemoOrder] = {}
    for order in data["orders"]:
        wanted = order["status"] in statuses if statuses else len(chosen) < count
        if order["status"] not in chosen and wanted:
            chosen[order["status"]] = DemoOrder(
                number=order["number"],
                status=order["status"],
                email=emails[order["customer"]],
                items=", ".join(line["name"] for line in order["lines"]),
            )
    if statuses:
        return [chosen[status] for status in statuses if status in chosen]
    return list(chosen.values())
