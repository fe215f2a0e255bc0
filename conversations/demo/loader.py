"""Loading the demo store: the demo bot, its orders (store.json) and its FAQ (faq.json)."""

from dataclasses import dataclass
from pathlib import Path

from conversations.agents.access import agents_group_ensure
from conversations.importing import ImportReport
from conversations.importing.faq import faq_import
from conversations.importing.orders import orders_import
from conversations.models import Bot

DEMO_DIR = Path(__file__).resolve().parent
DEMO_STORE_FILE = DEMO_DIR / "store.json"
DEMO_FAQ_FILE = DEMO_DIR / "faq.json"
DEMO_SLUG = "demo"
DEMO_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]


@dataclass
class DemoStoreResult:
    bot: Bot
    bot_created: bool
    orders: ImportReport
    faq: ImportReport | None


def demo_store_seed(
    *,
    store_file: Path = DEMO_STORE_FILE,
    faq_file: Path = DEMO_FAQ_FILE,
    progress: bool = False,
) -> DemoStoreResult:
    """Create the demo bot and load its store and FAQ; a second run changes nothing."""
    bot, created = Bot.objects.get_or_create(
        slug=DEMO_SLUG, defaults={"name": "Demo Store", "allowed_origins": DEMO_ORIGINS}
    )
    # The demo's agents (the "agents" group; `make run`'s agent login is in it) handle it.
    bot.agent_groups.add(agents_group_ensure())
    orders = orders_import(bot=bot, path=store_file, format="json", progress=progress)
    faq = faq_import(bot=bot, path=faq_file, progress=progress) if faq_file.exists() else None
    return DemoStoreResult(bot=bot, bot_created=created, orders=orders, faq=faq)
