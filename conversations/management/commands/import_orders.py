"""Import a store's customers, products and orders (tau2 db.json, JSON or CSV)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from conversations.importing import ImportFileError, ImportReport, progress_default
from conversations.importing.order_formats import FORMATS
from conversations.importing.orders import orders_import
from conversations.models import Bot


def bot_for_import(slug: str) -> Bot:
    try:
        return Bot.objects.get(slug=slug)
    except Bot.DoesNotExist:
        raise CommandError(
            f"No bot with slug {slug!r}; create it first (admin or seed_demo)."
        ) from None


def report_write(command: BaseCommand, *, path: Path, report: ImportReport) -> None:
    prefix = "Dry run, nothing stored: " if report.dry_run else ""
    command.stdout.write(f"{prefix}{path} ({report.format}):")
    for line in report.lines():
        command.stdout.write(f"  {line}")
    if not report.dry_run:
        command.stdout.write(command.style.SUCCESS("Done." if report.changed else "No changes."))


class ImportCommand(BaseCommand):
    """An import command: FILE --bot SLUG [--format] [--dry-run], reported the same way."""

    formats: tuple[str, ...] = ()

    @staticmethod
    def importer(**kwargs) -> ImportReport:
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--bot", required=True, help="The bot's slug.")
        parser.add_argument("--format", choices=self.formats, default="auto")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and count; store nothing."
        )

    def handle(self, *args, file: Path, bot: str, format: str, dry_run: bool, **options):
        target = bot_for_import(bot)
        try:
            report = self.importer(
                bot=target, path=file, format=format, dry_run=dry_run, progress=progress_default()
            )
        except ImportFileError as error:
            raise CommandError(f"{file}: {error}") from error
        except DatabaseError as error:
            # The checks should have caught it; the one transaction means nothing was stored.
            raise CommandError(
                f"{file}: the database refused the import, nothing was imported: {error}"
            ) from error
        report_write(self, path=file, report=report)


class Command(ImportCommand):
    help = "Import orders, customers and products for a bot; safe to run again (see docs)."
    formats = FORMATS
    importer = staticmethod(orders_import)
