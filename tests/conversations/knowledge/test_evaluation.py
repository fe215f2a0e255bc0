"""The shipped evaluation sets, run through `evaluate`'s code with the offline engine, stay
above their floors: a change that makes answers worse fails here.

Floors sit a little under the figures in README.md ("FAQ search"); the held-out and banking
sets were never tuned on.
"""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conversations.domain.evaluation import (
    EvaluationFileError,
    cases_parse,
    evaluation_diff,
    evaluation_run,
)
from conversations.importing.orders import orders_import
from conversations.models import EvaluationRun
from tests import factories

DATA = Path(__file__).resolve().parents[2] / "data"
EVAL = DATA / "eval"

pytestmark = pytest.mark.django_db(transaction=True)

FLOORS = {
    "demo_faq_tuning.jsonl": {
        "top1": 0.92,
        "top3": 0.97,
        "off_topic_caught": 0.90,
        "answer_when_routed": 0.94,
    },
    "demo_faq_held_out.jsonl": {
        "top1": 0.93,
        "top3": 0.98,
        "off_topic_caught": 0.88,
        "answer_when_routed": 0.93,
    },
    "bank_questions.jsonl": {
        "top1": 0.76,
        "top3": 0.93,
        "off_topic_caught": 0.93,
        # Routed right but under the threshold counts as not answered: 14% refused here.
        "answer_when_routed": 0.85,
    },
}
# The threshold is fitted on each bot's own phrasings; on the banking set, whose questions are
# worded further from its phrasings, it refuses more (docs/knowledge.md). 14 of its 90 with the
# distance ceiling (15 before it), 13 with the float32 encoder: borderline questions that any
# change of the vectors' last digits moves (docs/knowledge.md, "The encoder").
GOOD_REFUSED_CEILING = {
    "demo_faq_tuning.jsonl": 0.04,
    "demo_faq_held_out.jsonl": 0.04,
    "bank_questions.jsonl": 0.17,
}


# Outside-shaped bots (tests/data/eval/README.md): one entry per intent with 10 customer
# phrasings; floors a little under the figures in README.md, tuning and held-out parts alike.
OUTSIDE_FLOORS = {
    "banking_tuning.jsonl": {"top1": 0.73, "top3": 0.90, "off_topic_caught": 0.85},
    "banking_held_out.jsonl": {"top1": 0.82, "top3": 0.93, "off_topic_caught": 0.85},
    "assistant_tuning.jsonl": {"top1": 0.87, "top3": 0.93, "off_topic_caught": 0.85},
    # 70% of its 20 off-topic questions (50% before the spread floor, 65% with the int8
    # encoder before the distance ceiling): general-knowledge questions sit close to the
    # assistant's own intents (fun facts, definitions); the target is 85%.
    "assistant_held_out.jsonl": {"top1": 0.91, "top3": 0.96, "off_topic_caught": 0.65},
}
OUTSIDE_GOOD_REFUSED_CEILING = {
    "banking_tuning.jsonl": 0.08,
    "banking_held_out.jsonl": 0.06,
    "assistant_tuning.jsonl": 0.06,
    "assistant_held_out.jsonl": 0.04,
}


@pytest.fixture
def demo_bot(offline_engine):
    bot = factories.bot_create(name="Demo Store")
    factories.faq_load(bot=bot)
    return bot


@pytest.fixture
def offline_engine(settings):
    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_OFFLINE_DELAY = 0
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 0


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["demo_faq_tuning.jsonl", "demo_faq_held_out.jsonl"])
def test_demo_faq_sets_stay_above_their_floors(demo_bot, name):
    run = evaluation_run(bot=demo_bot, path=EVAL / name, engine="offline")
    print(name, run.metrics)
    for key, floor in FLOORS[name].items():
        assert run.metrics[key] >= floor, (key, run.metrics)
    assert run.metrics["good_refused"] <= GOOD_REFUSED_CEILING[name]
    assert run.metrics["dont_know_cited"] == 0


@pytest.mark.timeout(900)
def test_a_second_differently_worded_bot_stays_above_its_floors(offline_engine):
    bot = factories.bot_create(name="Acme Bank")
    factories.faq_load(bot=bot, path=EVAL / "bank_faq.json")
    run = evaluation_run(bot=bot, path=EVAL / "bank_questions.jsonl", engine="offline")
    print("bank", run.metrics)
    for key, floor in FLOORS["bank_questions.jsonl"].items():
        assert run.metrics[key] >= floor, (key, run.metrics)
    assert run.metrics["good_refused"] <= GOOD_REFUSED_CEILING["bank_questions.jsonl"]
    assert run.metrics["dont_know_cited"] == 0


@pytest.mark.timeout(900)
@pytest.mark.parametrize("bot_name", ["banking", "assistant"])
def test_outside_shaped_bots_stay_above_their_floors(offline_engine, bot_name):
    bot = factories.bot_create(name=f"Outside {bot_name}")
    factories.faq_load(bot=bot, path=EVAL / f"{bot_name}_faq.json")
    for part in ["tuning", "held_out"]:
        name = f"{bot_name}_{part}.jsonl"
        run = evaluation_run(bot=bot, path=EVAL / name, engine="offline")
        print(name, run.metrics)
        for key, floor in OUTSIDE_FLOORS[name].items():
            assert run.metrics[key] >= floor, (name, key, run.metrics)
        assert run.metrics["good_refused"] <= OUTSIDE_GOOD_REFUSED_CEILING[name], run.metrics
        assert run.metrics["dont_know_cited"] == 0


@pytest.mark.timeout(600)
def test_scenarios_pass_on_the_demo_faq_and_the_tau2_store(demo_bot):
    orders_import(bot=demo_bot, path=DATA / "tau2-retail" / "db.json", format="tau2")
    for name in ["demo_scenarios.jsonl", "tau2_scenarios.jsonl"]:
        run = evaluation_run(bot=demo_bot, path=EVAL / name, engine="offline")
        failed = {c.case_id: c.got for c in run.cases.filter(passed=False)}
        assert failed == {}, name
        assert run.metrics["scenarios_passed"] == 1.0


def test_runs_are_stored_and_compared_with_the_previous_one(demo_bot, tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        '{"id": "ship", "question": "how long does delivery take", '
        '"expected": "How long does shipping take?"}\n'
        '{"id": "poem", "question": "write me a poem about cats", "expected": "no_match"}\n'
    )
    call_command("evaluate", str(cases), "--bot", demo_bot.slug)
    first = EvaluationRun.objects.get()
    assert first.metrics["top1"] == 1.0 and first.metrics["off_topic_caught"] == 1.0
    assert evaluation_diff(first) == []
    assert "routing top-1" in capsys.readouterr().out

    cases.write_text(
        '{"id": "ship", "question": "how long does delivery take", '
        '"expected": "Do you ship to PO boxes?"}\n'
    )
    call_command("evaluate", str(cases), "--bot", demo_bot.slug, "--json")
    second = EvaluationRun.objects.order_by("-started_at").first()
    assert evaluation_diff(second) == [{"case_id": "ship", "before": True, "after": False}]
    assert '"failed": [\n    "ship"\n  ]' in capsys.readouterr().out
    # The throwaway conversations are gone.
    assert not demo_bot.conversations.exists()


def test_admin_shows_runs_cases_and_the_diff(demo_bot, admin_client, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": "q", "question": "do you ship abroad", "expected": "no_match"}\n')
    evaluation_run(bot=demo_bot, path=cases, engine="offline")
    run = evaluation_run(bot=demo_bot, path=cases, engine="offline")
    listing = admin_client.get("/admin/conversations/evaluationrun/")
    assert listing.status_code == 200 and b"cases.jsonl" in listing.content
    page = admin_client.get(f"/admin/conversations/evaluationrun/{run.pk}/change/")
    assert page.status_code == 200
    assert b"Do you ship internationally?" in page.content
    assert b"Nothing changed" in page.content


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("not json\n", "line 1: not JSON"),
        ('{"question": "x"}\n', "line 1: a case needs"),
        ('{"id": "a", "turns": []}\n', "at least one turn"),
        ('{"id": "a", "question": "x", "expected": "y"}\n' * 2, "duplicate id"),
        ("\n", "no cases"),
    ],
)
def test_a_bad_case_file_is_a_clear_error(text, error):
    with pytest.raises(EvaluationFileError, match=error):
        cases_parse(text)


def test_the_command_reports_a_bad_file_and_an_unknown_bot(demo_bot, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    with pytest.raises(CommandError, match="line 1"):
        call_command("evaluate", str(bad), "--bot", demo_bot.slug)
    with pytest.raises(CommandError, match="No bot"):
        call_command("evaluate", str(bad), "--bot", "nope")
    assert not EvaluationRun.objects.exists()
