"""Import a bot's FAQ entries from JSON or CSV."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from conversations.importing import ImportFileError, progress_default
from conversations.importing.faq import FORMATS, faq_import
from conversations.management.commands.import_orders import bot_for_import, report_write


class Command(BaseCommand):
    help = "Import FAQ entries for a bot, matched on the question; safe to run again (see docs)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--bot", required=True, help="The bot's slug.")
        parser.add_argument("--format", choices=FORMATS, default="auto")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and count; store nothing."
        )

    def handle(self, *args, file: Path, bot: str, format: str, dry_run: bool, **options):
        target = bot_for_import(bot)
        try:
            report = faq_import(
                bot=target, path=file, format=format, dry_run=dry_run, progress=progress_default()
            )
        except ImportFileError as error:
            raise CommandError(f"{file}: {error}") from error
        report_write(self, path=file, report=report)
