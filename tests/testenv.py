"""Test-run defaults, set before pytest-django reads the settings (loaded with -p)."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
