"""Load the demo store idempotently."""

from django.core.management.base import BaseCommand

from conversations.models import Bot


class Command(BaseCommand):
    help = "Load the demo store: a bot with its FAQ, customers and orders. Safe to run again."

    def handle(self, *args, **options):
        bot, created = Bot.objects.get_or_create(
            slug="demo",
            defaults={
                "name": "Demo Store",
                "allowed_origins": ["http://127.0.0.1:8000", "http://localhost:8000"],
            },
        )
        self.stdout.write(
            f"{'Created' if created else 'Kept'} bot {bot.slug!r} ({bot.public_key})."
        )
