"""Questions answered only by the demo help center's articles, run through `evaluate`'s code
(tests/data/eval/demo_help_passages.jsonl and demo_help_paraphrases.jsonl): the right article in
the top 3, and the reply holding the expected fact, offline and on the OpenAI path (the local
model server, scripted to answer from the first passage it is given).

The "dev" cases were used to tune the search; "held_out" and "paraphrase" were only measured
(the paraphrases were written before the hybrid ranking was tuned). The floors sit a little
under the figures in docs/knowledge.md, so a change that makes passage answers worse fails here.
"""

import json
from pathlib import Path

import pytest

from conversations.demo.loader import DEMO_HELP_DIR
from conversations.domain.evaluation import evaluation_run
from conversations.importing.articles import articles_read, articles_store
from tests import factories
from tests.openai_server import Reply, ToolCallSpec

EVAL = Path(__file__).resolve().parents[2] / "data" / "eval"
PASSAGES = EVAL / "demo_help_passages.jsonl"
PARAPHRASES = EVAL / "demo_help_paraphrases.jsonl"

# The targets of issue 14 on the held-out cases; dev sits at least as high.
FLOORS = {
    "passage_top3_dev": 0.95,
    "passage_top3_held_out": 0.90,
    "passage_section_held_out": 0.85,
}
OFFLINE_FACTS = {"passage_facts_dev": 0.90, "passage_facts_held_out": 0.85}
OPENAI_FACTS = {"passage_facts_dev": 0.90, "passage_facts_held_out": 0.90}
# Paraphrases worded away from the articles: measured 0.778 top-3 hybrid with the int8 encoder
# (0.806 with the float32 one; BM25 alone 0.667).
PARAPHRASE_FLOORS = {"passage_top3": 0.75, "passage_top1": 0.50}

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
    pytest.mark.timeout(900),
]


@pytest.fixture
def help_center_bot():
    """A bot with the demo FAQ and the demo help center, indexed."""
    bot = factories.bot_create()
    factories.faq_load(bot=bot)
    articles_store(bot=bot, articles=articles_read(paths=[DEMO_HELP_DIR]))
    return bot


def assert_floors(metrics: dict, floors: dict) -> None:
    low = {key: (metrics.get(key), floor) for key, floor in floors.items()}
    assert all(value is not None and value >= floor for value, floor in low.values()), low


def test_offline_answers_from_the_right_article_and_section(help_center_bot):
    run = evaluation_run(bot=help_center_bot, path=PASSAGES, engine="offline")
    print(run.metrics)
    assert_floors(run.metrics, FLOORS | OFFLINE_FACTS)
    assert run.metrics["passage_cited_held_out"] >= 0.85
    cases = {case.case_id: case for case in run.cases.all()}
    assert len(cases) == 66 and all(case.kind == "article" for case in cases.values())
    answered = [case.got for case in cases.values() if case.got["facts"]]
    # Offline replies cite the product's own article page at the section.
    assert all(
        got["cited"] and got["cited"][0].split(" > ")[0] in got["top3"][0] for got in answered
    )


def test_paraphrases_find_the_article_by_meaning(help_center_bot):
    run = evaluation_run(bot=help_center_bot, path=PARAPHRASES, engine="offline")
    print(run.metrics)
    assert_floors(run.metrics, PARAPHRASE_FLOORS)


def answer_from_first_passage(request) -> Reply:
    """The scripted model: search with the customer's words, then answer from passage one."""
    last = request.messages[-1]
    if last.get("role") != "tool":
        return Reply(tool_calls=[ToolCallSpec("search_faq", {"question": request.last_user_text})])
    data = json.loads(last.get("content") or "{}")
    passages = data.get("passages") or []
    if not passages:
        return Reply(text="I'm not sure, would you like a human agent?")
    first = passages[0]
    return Reply(text=f"{first['text']}\n\n(Source: {first['title']}, {first['heading']})")


def test_the_openai_path_answers_with_the_fact_and_cites_the_article(
    settings, openai_server, help_center_bot
):
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_MAX_RETRIES = 0
    settings.SUPPORTBOT_MODERATION = False
    openai_server.rule = answer_from_first_passage
    run = evaluation_run(bot=help_center_bot, path=PASSAGES, engine="openai")
    print(run.metrics)
    assert_floors(run.metrics, FLOORS | OPENAI_FACTS)
    assert run.metrics["passage_cited_held_out"] >= 0.90
    # The model really was asked: one search and one answer per case.
    assert len(openai_server.chat_requests()) >= 2 * 66
