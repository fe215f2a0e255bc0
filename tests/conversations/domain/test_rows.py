from django.db import connection

from conversations.domain.messages import message_append
from conversations.engine.history_rows import history_message_rows
from conversations.models import Message, MessageRole
from tests.conftest import requires_postgres


def _prepared() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


@requires_postgres
def test_kept_postgresql_connections_prepare_each_statement_once(conversation, monkeypatch):
    monkeypatch.delitem(connection.settings_dict["OPTIONS"], "pool", raising=False)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    before = _prepared()
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="é0")
    # A connection closed after each call: preparing would only add a round trip.
    assert _prepared() == before

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    for n in (1, 2, 3):
        message_append(
            conversation_id=conversation.pk,
            role=MessageRole.CUSTOMER,
            text=f"é{n}",
            client_id=f"c-{n}",
        )
    new = _prepared() - before
    assert len([s for s in new if s.startswith(f'INSERT INTO "{Message._meta.db_table}"')]) == 1
    assert len([s for s in new if s.startswith("UPDATE ")]) == 1  # the lock and seq, once

    # What the prepared statements stored and read is what the ORM sees.
    messages = history_message_rows(conversation_id=conversation.pk, after_seq=0)
    stored = list(Message.objects.filter(conversation=conversation).order_by("seq"))
    assert [(m.seq, m.text, m.client_id) for m in messages] == [
        (1, "é0", None),
        (2, "é1", "c-1"),
        (3, "é2", "c-2"),
        (4, "é3", "c-3"),
    ]
    assert [m.created_at for m in messages] == [m.created_at for m in stored]
    assert messages[0].created_at.tzinfo is not None
