"""Word search over message text: a GIN full-text index, on PostgreSQL only (SQLite scans)."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS message_text_search ON conversations_message "
    "USING gin (to_tsvector('simple'::regconfig, text))"
)
DROP = "DROP INDEX IF EXISTS message_text_search"


def index_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("conversations", "0005_agents_group")]

    operations = [migrations.RunPython(index_create, index_drop)]
