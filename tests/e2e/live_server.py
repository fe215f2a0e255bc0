"""The product served for real: uvicorn in a subprocess on a free port, its own database.

SQLite in a temporary file by default; with DATABASE_URL=postgres://... a database of its own
next to the test database (created and dropped here), and REDIS_URL's channel layer under a
prefix of its own, so it can run beside the rest of the suite.
"""

import contextlib
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.asgi_server import ROOT, free_port, uvicorn_running


@dataclass(frozen=True)
class LiveServer:
    url: str
    env: dict[str, str]
    log: Path
    pid: int = 0

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout


@contextlib.contextmanager
def _postgres_database(url: str) -> Iterator[str]:
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'supportbot'}_e2e_{uuid.uuid4().hex[:6]}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "SUPPORTBOT_", "DJANGO_"))
    }
    env.update(
        DEBUG="1",  # static files straight from the source tree, no collectstatic needed
        SECRET_KEY="e2e-secret-key",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SUPPORTBOT_ENGINE="offline",
        CELERY_TASK_ALWAYS_EAGER="1",
        MEDIA_ROOT=str(tmp / "media"),
        SQLITE_PATH=str(tmp / "e2e.sqlite3"),
        CHANNEL_LAYER_PREFIX=f"e2e{uuid.uuid4().hex[:8]}",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def live_server(
    tmp: Path, *, server_args: tuple[str, ...] = (), **extra: str
) -> Iterator[LiveServer]:
    """Migrate, seed the demo store, serve; stop the server and drop its database after."""
    with contextlib.ExitStack() as stack:
        database_url = os.environ.get("DATABASE_URL", "")
        env = server_env(tmp, **extra)
        if database_url.startswith(("postgres://", "postgresql://")):
            env["DATABASE_URL"] = stack.enter_context(_postgres_database(database_url))
        port = free_port()
        server = LiveServer(url=f"http://127.0.0.1:{port}", env=env, log=tmp / "server.log")
        server.manage("migrate", "--noinput")
        # No past conversations: the queue starts empty and the tests' own are the latest.
        server.manage("seed_demo", "--conversations", "0")
        log = stack.enter_context(server.log.open("w"))
        process = stack.enter_context(
            uvicorn_running(
                port=port,
                env=env,
                log=log,
                args=(
                    *("--ws-max-size", "65536"),
                    # Frames are small JSON: compressing them costs CPU and a deflate context a
                    # socket.
                    *("--ws-per-message-deflate", "false"),
                    "--no-access-log",
                    *server_args,
                ),
            )
        )
        yield dataclasses.replace(server, pid=process.pid)
