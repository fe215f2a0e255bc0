import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from tests.conftest import requires_postgres


@requires_postgres
@pytest.mark.django_db
def test_creates_the_missing_database_once(settings):
    name = f"sb_create_{uuid.uuid4().hex[:8]}"
    db = dict(connection.settings_dict)  # a copy: the original name is put back below
    admin = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres"
    settings.DATABASES["default"]["NAME"] = name
    from django.db import connections

    connections["default"].settings_dict["NAME"] = name
    try:
        call_command("database_create")
        call_command("database_create")  # a second run changes nothing
        with psycopg.connect(admin, autocommit=True) as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    finally:
        connections["default"].settings_dict["NAME"] = db["NAME"]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
