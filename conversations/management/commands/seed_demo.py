"""Load the demo store idempotently, with a few hundred past conversations for the dashboard."""

from django.core.management.base import BaseCommand, CommandError

from conversations.demo.history import conversations_seed
from conversations.demo.loader import demo_store_seed
from conversations.importing import ImportFileError, progress_default

# Enough for every dashboard chart and the top topics to show something; seconds on SQLite.
DEFAULT_CONVERSATIONS = 300


class Command(BaseCommand):
    help = (
        "Load the demo store: a bot with its FAQ, help-center articles, customers and orders. "
        "Safe to run again. "
        f"--conversations N makes sure N generated past conversations exist "
        f"(default {DEFAULT_CONVERSATIONS}; 0 for none)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--conversations",
            type=int,
            default=DEFAULT_CONVERSATIONS,
            metavar="N",
            help="Generate past conversations (over the last 60 days) until N exist.",
        )

    def handle(self, *args, conversations: int, **options):
        if conversations < 0:
            raise CommandError("--conversations must be 0 or more.")
        progress = progress_default()
        try:
            result = demo_store_seed(progress=progress)
        except ImportFileError as error:
            raise CommandError(f"The demo data does not import: {error}") from error
        bot = result.bot
        self.stdout.write(
            f"{'Created' if result.bot_created else 'Kept'} bot {bot.slug!r} ({bot.public_key})."
        )
        for line in result.orders.lines():
            self.stdout.write(f"  {line}")
        if result.faq is None:
            self.stdout.write("  no FAQ file (conversations/demo/faq.json): FAQ skipped")
        else:
            for line in result.faq.lines():
                self.stdout.write(f"  {line}")
        for line in result.articles.lines() if result.articles else ():
            self.stdout.write(f"  {line}")
        if conversations:
            added = conversations_seed(bot=bot, count=conversations, progress=progress)
            self.stdout.write(f"  conversations: {added} generated, {conversations} wanted")
