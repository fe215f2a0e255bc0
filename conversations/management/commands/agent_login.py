"""Create (once) the staff login that `make run` prints, and print it."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from conversations.agents.access import agents_group_ensure

CREDENTIALS_FILE = settings.BASE_DIR / "var" / "agent-login.txt"


class Command(BaseCommand):
    help = "Create the local admin/agent login if missing and print it (development only)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        user_model = get_user_model()
        password = None
        if CREDENTIALS_FILE.exists():
            saved_user, _, saved_password = CREDENTIALS_FILE.read_text().strip().partition(":")
            if saved_user == username:
                password = saved_password
        user = user_model.objects.filter(username=username).first()
        if user is None or password is None or not user.check_password(password):
            password = secrets.token_urlsafe(12)
            if user is None:
                user = user_model.objects.create_superuser(username=username, password=password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
            CREDENTIALS_FILE.write_text(f"{username}:{password}\n")
            CREDENTIALS_FILE.chmod(0o600)
        # A superuser sees every bot; in the agents group too, it keeps the demo bot (the
        # "agents" group handles it) should someone take the superuser flag away.
        user.groups.add(agents_group_ensure())
        self.stdout.write(self.style.SUCCESS(f"Agent login: {username} / {password}"))
