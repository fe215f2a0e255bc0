"""Django on a scratch embedded default, for the benchmarks that need a database but no server:
SQLite in a new temporary folder, the in-memory channel layer, tasks in-process."""

import os
import tempfile
from pathlib import Path


def scratch_django(prefix: str) -> Path:
    """Set Django up on a new scratch SQLite file (not migrated yet); the scratch folder."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ["SQLITE_PATH"] = str(scratch / "bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
    os.environ.setdefault("SECRET_KEY", "bench")

    import django

    django.setup()
    return scratch
