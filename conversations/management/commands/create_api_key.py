"""Create an API key for a bot and print its secret, once."""

from django.core.management.base import BaseCommand, CommandError

from conversations.edge.apikeys import ApiKeyError, api_key_create
from conversations.models import Bot


class Command(BaseCommand):
    help = "Create an API key for a bot; the secret is printed once and never stored."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bot", required=True, help="The bot's slug.")
        parser.add_argument(
            "--scopes", default="chat", help="Comma-separated: chat, read, knowledge."
        )
        parser.add_argument("--name", default="", help="A name to recognise the key by.")

    def handle(self, *args, bot: str, scopes: str, name: str, **options) -> None:
        found = Bot.objects.filter(slug=bot).first()
        if found is None:
            raise CommandError(f"No bot with slug {bot!r}.")
        try:
            key, secret = api_key_create(bot=found, name=name or "API key", scopes=scopes)
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Created {key.name!r} ({key.prefix}) for {found.slug}, scopes {','.join(key.scopes)}."
            " The secret below is shown only now:"
        )
        self.stdout.write(secret)
