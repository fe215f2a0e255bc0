"""The settings module, loaded in a fresh interpreter with a given environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT = (
    "import json, django; from django.conf import settings; django.setup(); print(json.dumps({"
    "'db': settings.DATABASES['default']['ENGINE'],"
    "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'],"
    "'eager': settings.CELERY_TASK_ALWAYS_EAGER, 'engine': settings.SUPPORTBOT_ENGINE}))"
)


def load(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "DEBUG",
            "SECRET_KEY",
        }
    }
    clean.update({"DJANGO_SETTINGS_MODULE": "supportbot.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_default_needs_nothing_installed():
    result = load({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "db": "django.db.backends.sqlite3",
        "layer": "supportbot.layers.FastInMemoryChannelLayer",
        "eager": True,
        "engine": "offline",
    }


def test_production_shape_from_urls():
    result = load(
        {
            "SECRET_KEY": "x" * 50,
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "OPENAI_API_KEY": "sk-test",
        }
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "db": "django.db.backends.postgresql",
        "layer": "supportbot.layers.LocalFirstRedisLayer",
        "eager": False,
        "engine": "openai",
    }


def test_missing_secret_key_without_debug_fails_loudly():
    result = load({})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_bad_value_fails_loudly():
    result = load({"DEBUG": "perhaps"})
    assert result.returncode != 0
    assert "DEBUG='perhaps' is not a boolean" in result.stderr


def test_production_settings_pass_check_deploy():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG"}}
    env.update(
        {
            "SECRET_KEY": "k3y-" + "abcdefghij" * 6,
            "ALLOWED_HOSTS": "support.example.com",
            "SECURE_SSL_REDIRECT": "1",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_postgresql_gets_a_pool_for_its_database_threads_by_default():
    show = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps([settings.DB_THREADS, "
        "settings.DATABASES['default'].get('OPTIONS', {}).get('pool', {}).get('max_size')]))"
    )
    env = {
        "SECRET_KEY": "x" * 50,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
        "DB_THREADS": "",
        "DB_POOL_MAX_SIZE": "",
    }

    def pool(**extra: str) -> list:
        clean = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DEBUG"}}
        clean.update({"DJANGO_SETTINGS_MODULE": "supportbot.settings", **env, **extra})
        done = subprocess.run(
            [sys.executable, "-c", show], cwd=ROOT, env=clean, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert pool() == [8, 10]
    assert pool(DB_THREADS="4") == [4, 6]
    assert pool(DB_POOL_MAX_SIZE="0") == [8, None]
