"""FAQ search: measured recall on the paraphrase set, "no good match", and a fresh index."""

import json
from pathlib import Path

import numpy as np
import pytest

from conversations.knowledge import faq_search
from conversations.models import FaqEntry
from tests import factories

EVAL = Path(__file__).resolve().parents[2] / "data" / "faq_eval.json"

# Floors a little under the figures in README.md ("FAQ search"): a change that makes search
# worse fails here.
RECALL_AT_1_FLOOR = 0.75
RECALL_AT_3_FLOOR = 0.88
NO_MATCH_FLOOR = 0.80
ON_TOPIC_ANSWERED_FLOOR = 0.92
HELD_OUT_RECALL_AT_1_FLOOR = 0.78
HELD_OUT_RECALL_AT_3_FLOOR = 0.90


def recall(*, bot_id: int, questions: list[dict[str, str]]) -> tuple[float, float, float]:
    """recall@1, recall@3 and the share answered (not "no good match")."""
    at1 = at3 = answered = 0
    for item in questions:
        result = faq_search(bot_id=bot_id, question=item["question"], limit=3)
        found = [m.question for m in result.matches]
        at1 += found[:1] == [item["expected"]]
        at3 += item["expected"] in found
        answered += not result.no_good_match
    return at1 / len(questions), at3 / len(questions), answered / len(questions)


def faq_evaluate(*, bot_id: int) -> dict[str, float]:
    evaluation = json.loads(EVAL.read_text())
    at1, at3, answered = recall(bot_id=bot_id, questions=evaluation["questions"])
    held1, held3, _ = recall(bot_id=bot_id, questions=evaluation["held_out"])
    off_topic = evaluation["off_topic"]
    rejected = sum(faq_search(bot_id=bot_id, question=q).no_good_match for q in off_topic)
    return {
        "recall_at_1": at1,
        "recall_at_3": at3,
        "on_topic_answered": answered,
        "no_match_accuracy": rejected / len(off_topic),
        "held_out_recall_at_1": held1,
        "held_out_recall_at_3": held3,
    }


def test_the_evaluation_set_names_real_entries():
    evaluation = json.loads(EVAL.read_text())
    questions = {e["question"] for e in json.loads(factories.DEMO_FAQ.read_text())}
    assert len(evaluation["questions"]) >= 150
    assert len(evaluation["off_topic"]) >= 20
    items = evaluation["questions"] + evaluation["held_out"]
    assert {item["expected"] for item in items} <= questions
    # Paraphrases, not copies of the phrasings the index holds.
    phrasings = {
        p.lower()
        for e in json.loads(factories.DEMO_FAQ.read_text())
        for p in [e["question"], *e["alternatives"]]
    }
    assert not {item["question"].lower() for item in items} & phrasings


@pytest.mark.django_db
def test_recall_and_no_match_stay_above_their_floors(bot):
    factories.faq_load(bot=bot)
    figures = faq_evaluate(bot_id=bot.pk)
    print(json.dumps(figures))
    assert figures["recall_at_1"] >= RECALL_AT_1_FLOOR
    assert figures["recall_at_3"] >= RECALL_AT_3_FLOOR
    assert figures["no_match_accuracy"] >= NO_MATCH_FLOOR
    assert figures["on_topic_answered"] >= ON_TOPIC_ANSWERED_FLOOR
    assert figures["held_out_recall_at_1"] >= HELD_OUT_RECALL_AT_1_FLOOR
    assert figures["held_out_recall_at_3"] >= HELD_OUT_RECALL_AT_3_FLOOR


@pytest.mark.django_db
def test_a_question_about_nothing_in_the_faq_is_no_good_match(bot):
    factories.faq_load(bot=bot)
    result = faq_search(bot_id=bot.pk, question="who won the football game last night")
    assert result.no_good_match


@pytest.mark.django_db
def test_edits_are_searchable_at_once_and_unpublished_entries_are_not(bot):
    entry = FaqEntry.objects.create(
        bot=bot, question="Do you sell gift cards?", answer="Yes, from $10 to $500."
    )
    assert faq_search(bot_id=bot.pk, question="can I buy a gift card")
    FaqEntry.objects.create(
        bot=bot,
        question="Do you ship to Mars?",
        answer="Not yet.",
        alternatives=["interplanetary shipping"],
    )
    found = faq_search(bot_id=bot.pk, question="do you ship to mars")
    assert found.matches[0].question == "Do you ship to Mars?"
    entry.is_published = False
    entry.save()
    assert all(m.id != entry.pk for m in faq_search(bot_id=bot.pk, question="gift card").matches)


@pytest.mark.django_db
def test_each_bot_searches_only_its_own_faq(bot):
    other = factories.bot_create()
    FaqEntry.objects.create(bot=other, question="Do you ship to Mars?", answer="Not yet.")
    assert faq_search(bot_id=bot.pk, question="do you ship to mars").matches == []


@pytest.mark.django_db
def test_matches_carry_confidence_and_alternatives_and_the_router_is_stored(bot):
    from conversations.models import FaqRouter

    factories.faq_load(bot=bot)
    result = faq_search(bot_id=bot.pk, question="how long do I have to return something?")
    best = result.matches[0]
    assert best.question == "What is your return policy?" and not result.no_good_match
    assert 0 < best.confidence <= 1 and best.confidence >= result.matches[1].confidence
    as_dict = best.to_dict()
    assert as_dict["alternatives"] and "confidence" in as_dict
    router = FaqRouter.objects.get(bot=bot)
    assert router.params["report"]["fitted"] and 0 < router.params["threshold"] < 1


@pytest.mark.django_db
def test_the_tool_cites_nothing_when_nothing_fits(bot):
    from conversations.tools.faq import search_faq
    from conversations.tools.registry import ToolContext

    factories.faq_load(bot=bot)
    context = ToolContext(conversation_id=None, bot_id=bot.pk, customer_id=0, verified=False)
    answered = search_faq(context=context, question="do you ship to Japan?")
    assert answered.data["matches"][0]["question"] == "Do you ship internationally?"
    assert answered.sources[0]["title"] == "Do you ship internationally?"
    refused = search_faq(context=context, question="write me a poem about the sea")
    assert refused.data == {
        "matches": [],
        "passages": [],
        "best": "",
        "no_good_match": True,
        "ambiguous": False,
    }
    assert refused.sources == []


@pytest.mark.django_db
def test_warm_up_builds_every_bots_index(bot):
    from conversations.knowledge.search import _indexes, faq_index_forget, knowledge_warm_up

    factories.faq_load(bot=bot)
    faq_index_forget()
    knowledge_warm_up(background=False)
    assert bot.pk in _indexes


@pytest.mark.django_db
def test_the_classifier_is_refitted_when_the_faq_changes(bot):
    from conversations.knowledge.search import faq_index
    from conversations.models import FaqRouter

    factories.faq_load(bot=bot, path=EVAL.parent / "eval" / "banking_faq.json")
    index = faq_index(bot_id=bot.pk)
    assert index.hybrid.classifier_kind == ("softmax" if index.embedder else "")
    report = FaqRouter.objects.get(bot=bot).params["report"]
    assert report["fitted"] and report["good_refused"] <= 0.06
    question = "my holiday tickets were bought with the card, can you give me the air miles"
    assert faq_search(bot_id=bot.pk, question=question).matches[0].question != "Air miles"

    FaqEntry.objects.create(
        bot=bot,
        question="Air miles",
        answer="Card payments for flights earn 1 air mile per pound, shown under Rewards.",
        alternatives=[
            "do I earn air miles",
            "air miles on flights I book with the card",
            "how many miles do I get for a plane ticket",
            "frequent flyer points from the card",
            "collect miles when I pay for travel",
        ],
    )
    result = faq_search(bot_id=bot.pk, question=question)
    assert result.matches[0].question == "Air miles" and not result.no_good_match
    # A question far from every phrasing is no good match whatever the mix says.
    assert faq_search(bot_id=bot.pk, question="how far away is the moon").no_good_match


@pytest.mark.django_db
def test_the_spread_floor_is_fitted_per_entry_and_passes_its_own_phrasings(bot):
    from conversations.knowledge.search import faq_index

    factories.faq_load(bot=bot, path=EVAL.parent / "eval" / "banking_faq.json")
    hybrid = faq_index(bot_id=bot.pk).hybrid
    assert hybrid.blocks is not None  # the embedded default embeds
    floor = hybrid.params.spread_floor
    assert -2.0 < floor < 0.0  # fitted: two held-out phrasings in a hundred fall under it
    passed = 0
    for position, block in enumerate(hybrid.blocks):
        assert hybrid.spread_score(position, 1.0) > floor  # a copy of a phrasing
        # Each phrasing held out, as close as it is to its nearest sibling.
        for k in range(len(block)):
            nearest = float(np.max(np.delete(block, k, axis=0) @ block[k]))
            passed += hybrid.spread_score(position, nearest, left_out=k) >= floor
        # Far under an entry's own phrasings' cosines is under the floor.
        assert hybrid.spread_score(position, 0.0) < floor
    assert passed / sum(len(b) for b in hybrid.blocks) >= 0.95


@pytest.mark.django_db
def test_the_distance_ceiling_is_stored_with_the_router_and_refuses_far_questions(bot):
    from conversations.knowledge.search import faq_index
    from conversations.models import FaqRouter

    factories.faq_load(bot=bot, path=EVAL.parent / "eval" / "banking_faq.json")
    hybrid = faq_index(bot_id=bot.pk).hybrid
    stored = FaqRouter.objects.get(bot=bot).params
    ceiling = hybrid.params.distance_ceiling
    assert ceiling is not None and stored["distance_ceiling"] == ceiling
    # Every stored phrasing is well inside it; a far-off question is over it and refused.
    assert max(hybrid.distance(v) for block in hybrid.blocks for v in block) < ceiling
    embedder = faq_index(bot_id=bot.pk).embedder
    far = "who won the football world cup in 1966"
    assert hybrid.distance(embedder.embed([far])[0]) > ceiling
    assert faq_search(bot_id=bot.pk, question=far).no_good_match
    close = "my card payment got declined at the shop"
    assert not faq_search(bot_id=bot.pk, question=close).no_good_match
