"""Create the PostgreSQL database DATABASE_URL names, if it does not exist yet (`make prod`)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections


class Command(BaseCommand):
    help = "Create the configured PostgreSQL database if it is missing (SQLite: nothing to do)."

    def handle(self, *args, **options) -> None:
        connection = connections["default"]
        if connection.vendor != "postgresql":
            self.stdout.write("SQLite: the file is created on first use.")
            return
        name = connection.settings_dict["NAME"]
        # Django's own fallback: a connection to the server's maintenance database.
        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                self.stdout.write(f"Database {name} exists.")
                return
            try:
                cursor.execute(f'CREATE DATABASE "{name}"')
            except Exception as error:
                raise CommandError(f"Could not create database {name}: {error}") from error
        self.stdout.write(self.style.SUCCESS(f"Created database {name}."))
