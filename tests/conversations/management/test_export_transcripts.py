import csv
import io
import json
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from conversations.models import Conversation
from tests.agents_fixtures import chat_create


def test_export_a_period_as_json_and_csv(bot, tmp_path, capsys):
    inside = chat_create(bot=bot, texts=["hello, inside"])
    before = chat_create(bot=bot, texts=["too early"])
    Conversation.objects.filter(pk=before.pk).update(created_at=timezone.now() - timedelta(days=10))
    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    until = timezone.now().date().isoformat()
    call_command("export_transcripts", "--since", since, "--until", until)
    exported = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in exported] == [str(inside.pk)]
    assert exported[0]["messages"][0]["text"] == "hello, inside"

    target = tmp_path / "out.csv"
    call_command("export_transcripts", "--since", since, "--format", "csv", "-o", str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {r["conversation_id"] for r in rows} == {str(inside.pk)}
    assert [r["role"] for r in rows] == ["customer", "assistant"]


def test_export_with_nothing_in_the_period_is_an_empty_list(db, capsys):
    call_command("export_transcripts", "--since", "2001-01-01", "--until", "2001-01-02")
    assert json.loads(capsys.readouterr().out) == []
