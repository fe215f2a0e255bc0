"""Export transcripts as JSON or CSV, like the admin's export action, from a terminal."""

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from conversations.agents.transcripts import transcripts_csv, transcripts_json
from conversations.models import Conversation


def _moment(value: str, *, end_of_day: bool = False) -> datetime:
    try:
        day = parse_date(value)
        parsed = None if day else parse_datetime(value)
    except ValueError:
        day = parsed = None
    if day is not None:
        parsed = datetime.combine(day, time.max if end_of_day else time.min)
    if parsed is None:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD) or a date-time.")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


class Command(BaseCommand):
    help = "Write the transcripts of conversations started in a period as JSON or CSV."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Started on or after (YYYY-MM-DD or ISO date-time).")
        parser.add_argument("--until", help="Started on or before (a date includes that day).")
        parser.add_argument("--bot", help="Only this bot (slug).")
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args, since, until, bot, format, output, **options):
        conversations = Conversation.objects.all()
        if since:
            conversations = conversations.filter(created_at__gte=_moment(since))
        if until:
            conversations = conversations.filter(created_at__lte=_moment(until, end_of_day=True))
        if bot:
            conversations = conversations.filter(bot__slug=bot)
        chunks = (
            transcripts_csv(conversations) if format == "csv" else transcripts_json(conversations)
        )
        if not output:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
            return
        with open(output, "w", encoding="utf-8", newline="") as target:
            for chunk in chunks:
                target.write(chunk)
        self.stderr.write(f"Wrote {conversations.count()} conversation(s) to {output}.")
