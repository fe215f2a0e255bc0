"""Import help-center articles for a bot: files and folders of .md, .html, .txt, .pdf, .json."""

from pathlib import Path

from django.core.management.base import CommandError

from conversations.importing import ImportFileError, progress_default
from conversations.importing.articles import articles_import
from conversations.management.commands.import_orders import (
    ImportCommand,
    bot_for_import,
    report_write,
)


class Command(ImportCommand):
    help = (
        "Import help-center articles for a bot (Markdown, HTML, text, PDF, or a Zendesk/Intercom "
        "JSON export), matched on their source; safe to run again (see docs/knowledge.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument("--bot", required=True, help="The bot's slug.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and count; store nothing."
        )

    def handle(self, *args, paths: list[Path], bot: str, dry_run: bool, **options):
        target = bot_for_import(bot)
        try:
            report = articles_import(
                bot=target, paths=paths, dry_run=dry_run, progress=progress_default()
            )
        except ImportFileError as error:
            raise CommandError(str(error)) from error
        report_write(self, path=Path(", ".join(map(str, paths))), report=report)
