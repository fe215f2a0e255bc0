import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from conversations.importing import ImportFileError
from conversations.importing.faq import faq_import
from conversations.models import FaqEntry

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "faq"


def stored(bot) -> list[tuple]:
    return list(
        FaqEntry.objects.filter(bot=bot)
        .order_by("question")
        .values_list("question", "answer", "alternatives", "tags", "is_published")
    )


@pytest.mark.parametrize("name", ["faq.json", "faq.csv"])
def test_json_and_csv_import_the_same_entries(bot, name):
    report = faq_import(bot=bot, path=FIXTURES / name)
    assert report.counts("faq entries").created == 3
    assert stored(bot) == [
        ("Do you sell gift cards?", "Not yet: gift cards are coming this winter.", [], [], False),
        (
            "How long does shipping take?",
            "Standard shipping takes 3-5 business days; express takes 1-2.",
            ["When will my order arrive?", "delivery time"],
            ["shipping"],
            True,
        ),
        (
            "What is your return policy?",
            "Unused items can be returned within 30 days of delivery for a full refund.",
            ["Can I return an item?"],
            ["returns", "refunds"],
            True,
        ),
    ]


def test_reimport_changes_nothing_and_edits_update_in_place(bot, tmp_path):
    faq_import(bot=bot, path=FIXTURES / "faq.json")
    before = list(FaqEntry.objects.order_by("pk").values())
    again = faq_import(bot=bot, path=FIXTURES / "faq.csv")
    assert again.changed == 0 and again.counts("faq entries").unchanged == 3
    assert list(FaqEntry.objects.order_by("pk").values()) == before

    entries = json.loads((FIXTURES / "faq.json").read_text())
    entries[2]["published"] = True
    entries.append({"question": "Where are you based?", "answer": "Portland, Maine."})
    edited = tmp_path / "faq.json"
    edited.write_text(json.dumps(entries))
    report = faq_import(bot=bot, path=edited)
    counts = report.counts("faq entries")
    assert (counts.created, counts.updated, counts.unchanged) == (1, 1, 2)
    assert FaqEntry.objects.get(bot=bot, question="Do you sell gift cards?").is_published


def test_same_question_belongs_to_each_bot_separately(bot, tmp_path):
    from tests import factories

    other = factories.bot_create()
    faq_import(bot=bot, path=FIXTURES / "faq.json")
    faq_import(bot=other, path=FIXTURES / "faq.json")
    assert FaqEntry.objects.filter(bot=other).count() == 3


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"question": "x"}', "a JSON list"),
        ('[{"answer": "no question"}]', "entries[0]: question is missing"),
        ('[{"question": "Q?", "answer": ""}]', "entries[0] ('Q?'): answer is missing"),
        ('[{"question": "Q?", "answer": "A", "tags": "shipping"}]', "tags must be a list"),
        ('[{"question": "Q?", "answer": "A", "published": "yes"}]', "published must be true"),
        ('[{"question": "Q?", "answer": "A", "topic": "x"}]', "unknown keys ['topic']"),
        (
            '[{"question": "Q?", "answer": "A"}, {"question": "Q?", "answer": "B"}]',
            "entries[1] ('Q?'): the same question appears more than once",
        ),
        ("question,answer,published\nQ?,A,maybe\n", "row 2 ('Q?'): published must be true"),
        ("title,answer\nQ?,A\n", "missing required columns: question"),
        ('[{"question": "Q?", "answer": "A"', "not valid JSON"),
    ],
)
def test_bad_files_are_rejected_whole(bot, tmp_path, content, expected):
    path = tmp_path / "faq.txt"
    path.write_text(content)
    # A good entry stored earlier must survive a rejected import untouched.
    faq_import(bot=bot, path=FIXTURES / "faq.json")
    with pytest.raises(ImportFileError) as raised:
        faq_import(bot=bot, path=path)
    assert expected in str(raised.value)
    assert FaqEntry.objects.filter(bot=bot).count() == 3


def test_command(bot, capsys):
    call_command("import_faq", str(FIXTURES / "faq.csv"), "--bot", bot.slug, "--dry-run")
    assert FaqEntry.objects.count() == 0
    call_command("import_faq", str(FIXTURES / "faq.csv"), "--bot", bot.slug, "--format", "csv")
    assert "faq entries: 3 created" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("import_faq", str(FIXTURES / "faq.csv"), "--bot", bot.slug, "--format", "json")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("answer", "Ye\x00s", "NUL"),
        ("answer", "Ye\ud800s", "valid Unicode"),
        ("question", "Q\x00?", "NUL"),
        ("tags", ["ok", "b\udfffad"], "valid Unicode"),
    ],
)
def test_unstorable_text_in_entry_550_of_600_stores_nothing(bot, tmp_path, field, value, expected):
    entries = [{"question": f"Question {index}?", "answer": "Yes."} for index in range(600)]
    entries[549][field] = value
    path = tmp_path / "faq.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(CommandError) as raised:
        call_command("import_faq", str(path), "--bot", bot.slug)
    assert "entries[549]" in str(raised.value)
    assert expected in str(raised.value)
    assert "nothing was imported" in str(raised.value)
    assert FaqEntry.objects.filter(bot=bot).count() == 0


def test_a_faq_failure_in_a_late_batch_leaves_nothing(bot, tmp_path, monkeypatch):
    from conversations.importing import faq as faq_module

    real = faq_module._faq_batch_upsert
    calls = []

    def failing(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        real(**kwargs)

    monkeypatch.setattr(faq_module, "_faq_batch_upsert", failing)
    entries = [{"question": f"Question {index}?", "answer": "Yes."} for index in range(600)]
    path = tmp_path / "faq.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(RuntimeError):
        faq_import(bot=bot, path=path)
    assert FaqEntry.objects.filter(bot=bot).count() == 0
