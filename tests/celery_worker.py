"""A real `celery worker` subprocess on this test run's database, for integration tests."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from django.db import connection

from supportbot.celery import app

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def celery_worker_running(
    *, queue: str, name: str, concurrency: int = 2, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Start a worker on `queue` against the test database; yields once it answers a ping."""
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    database = connection.settings_dict
    hostname = f"{name}@{socket.gethostname()}"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "supportbot", "worker"),
            *("-Q", queue, "-c", str(concurrency), "-n", hostname),
            *("--without-gossip", "--without-mingle", "-l", "WARNING"),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
                f"{database['NAME']}"
            ),
            "DB_CONN_MAX_AGE": "0",
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 40
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(process.stderr.read().decode()[-3000:])
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
