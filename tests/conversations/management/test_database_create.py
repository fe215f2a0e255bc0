import os
import subprocess
import sys
import uuid

import psycopg
from django.db import connection

from tests.asgi_server import ROOT
from tests.conftest import requires_postgres


@requires_postgres
def test_creates_the_missing_database_once(db):
    name = f"sb_create_{uuid.uuid4().hex[:8]}"
    settings = connection.settings_dict
    server = f"postgresql://{settings['USER']}@{settings['HOST']}:{settings['PORT']}"
    env = {**os.environ, "DATABASE_URL": f"{server}/{name}", "SECRET_KEY": "x"}

    def create() -> str:
        return subprocess.run(
            [sys.executable, "manage.py", "database_create"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout

    try:
        assert f"Created database {name}" in create()
        assert f"Database {name} exists" in create()  # a second run changes nothing
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
