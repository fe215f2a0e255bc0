"""Test-run defaults, set before pytest-django reads the settings (loaded with -p)."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
# ORM calls from async code run in worker threads: without persistent connections each thread
# closes its connection after the call, so teardown can drop the test database.
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
