"""Import a bot's FAQ entries from JSON or CSV."""

from conversations.importing.faq import FORMATS, faq_import
from conversations.management.commands.import_orders import ImportCommand


class Command(ImportCommand):
    help = "Import FAQ entries for a bot, matched on the question; safe to run again (see docs)."
    formats = FORMATS
    importer = staticmethod(faq_import)
