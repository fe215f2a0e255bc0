"""Loading the demo store: the demo bot, its orders (store.json), its FAQ (faq.json) and its
help center (help/, Markdown articles)."""

from dataclasses import dataclass
from pathlib import Path

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
    orders = orders_import(bot=bot, path=store_file, format="json", progress=progress)
    faq = faq_import(bot=bot, path=faq_file, progress=progress) if faq_file.exists() else None
    articles = (
        articles_import(bot=bot, paths=[help_dir], progress=progress) if help_dir.exists() else None
    )
    return DemoStoreResult(bot=bot, bot_created=created, orders=orders, faq=faq, articles=articles)
