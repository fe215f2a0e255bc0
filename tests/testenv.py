"""Test-run defaults, set before pytest-django reads the settings (loaded with -p)."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
# Async code reaches the database from asgiref's worker threads; closing those connections
# after each call lets the test database be dropped at the end of the run.
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
# The same for the pool, on by default on PostgreSQL: its connections would hold the test
# database open.
os.environ.setdefault("DB_POOL_MAX_SIZE", "0")
