"""Erase a customer's data on request: conversations, messages, images and identity."""

from django.core.management.base import BaseCommand, CommandError

from conversations.domain.privacy import customer_erase


class Command(BaseCommand):
    help = "Delete everything stored about a customer, found by email and/or visitor id."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="")
        parser.add_argument("--visitor", default="", help="The widget's visitor id.")
        parser.add_argument("--bot", default="", help="Only this bot's customer (slug).")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, email, visitor, bot, dry_run, **options):
        if not (email or visitor):
            raise CommandError("Give --email or --visitor.")
        erased = customer_erase(email=email, visitor_id=visitor, bot_slug=bot, dry_run=dry_run)
        verb = "Would erase" if dry_run else "Erased"
        self.stdout.write(
            f"{verb} {erased.customers} customer(s), {erased.conversations} conversation(s), "
            f"{erased.messages} message(s), {erased.attachments} image(s)."
        )
