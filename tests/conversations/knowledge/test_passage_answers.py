"""The knowledge tool's result: FAQ entries and passages together, the best first, kept small."""

import json

from conversations.knowledge.passage_answers import passage_excerpt, passage_reply
from conversations.models import Article
from conversations.tools.faq import search_faq
from conversations.tools.registry import ToolContext
from tests import factories


def context(bot) -> ToolContext:
    return ToolContext(conversation_id=None, bot_id=bot.pk, customer_id=0, verified=False)


def test_a_question_only_an_article_answers_cites_the_article_first(bot):
    factories.faq_load(bot=bot)
    factories.help_center_load(bot=bot)
    article = Article.objects.get(bot=bot, title="Warranty coverage")
    result = search_faq(context=context(bot), question="How long is the warranty on batteries?")
    assert result.data["best"] == "passage" and not result.data["no_good_match"]
    first = result.data["passages"][0]
    assert (first["title"], first["heading"]) == (
        "Warranty coverage",
        "How long the warranty lasts",
    )
    assert first["url"] == f"/help/{bot.slug}/{article.pk}/#how-long-the-warranty-lasts"
    assert result.sources[0] == {
        "type": "article",
        "id": article.pk,
        "title": "Warranty coverage",
        "section": "How long the warranty lasts",
        "url": first["url"],
    }


def test_an_faq_question_still_gets_the_faq_entry_first(bot):
    factories.faq_load(bot=bot)
    factories.help_center_load(bot=bot)
    result = search_faq(context=context(bot), question="Do you offer gift wrapping?")
    assert result.data["best"] == "faq"
    assert result.sources[0]["title"] == "Do you offer gift wrapping?"


def test_nothing_relevant_is_no_good_match(bot):
    factories.help_center_load(bot=bot)
    result = search_faq(context=context(bot), question="Do you sell spaceships to Mars?")
    assert result.data == {
        "matches": [],
        "passages": [],
        "best": "",
        "no_good_match": True,
        "ambiguous": False,
    }
    assert result.sources == []


def test_the_result_stays_under_the_tool_result_cap(bot, settings):
    factories.help_center_load(bot=bot)
    parts = "\n\n".join(
        f"## Part {n}\n\n" + f"Kettle batteries last {n} months in mode {n}. " * 60
        for n in range(6)
    )
    factories.article_create(bot=bot, title="Kettle batteries", body=parts)
    result = search_faq(context=context(bot), question="how many months do kettle batteries last")
    assert result.data["passages"][0]["title"] == "Kettle batteries"
    assert len(json.dumps(result.data).encode()) < settings.SUPPORTBOT_TOOL_RESULT_MAX_BYTES


def test_the_offline_answer_is_the_passage_trimmed_to_what_was_asked():
    text = (
        "All products carry a 1-year warranty. Batteries are covered for 6 months, they last "
        "long. Kettles carry two years. Accidental damage is not covered."
    )
    assert passage_excerpt(question="how long do batteries last", text=text) == (
        "Batteries are covered for 6 months, they last long."
    )
    reply = passage_reply(
        question="are batteries covered",
        data={"passages": [{"title": "Warranty", "heading": "Coverage", "text": text}]},
    )
    assert reply.startswith("Batteries are covered for 6 months")
    assert reply.endswith('(From "Warranty, Coverage".)')
    assert passage_reply(question="x", data={"passages": []}) == ""


def test_a_reply_citing_an_article_is_never_put_in_the_reply_cache(bot, settings):
    from conversations.engine.cache import CacheSlot, reply_cache_store

    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 600
    entry = factories.faq_load(bot=bot)[0]
    customer = factories.customer_create(bot=bot)
    slot = CacheSlot(key="k", entry_ids=frozenset({entry.pk}))
    # The article's id may equal a retrieved entry's: the type must keep them apart.
    article = {"type": "article", "id": entry.pk, "title": "T", "section": "", "url": "/x"}
    assert not reply_cache_store(
        slot=slot, bot_id=bot.pk, customer=customer, text=entry.answer, sources=[article]
    )
    faq_source = {"id": entry.pk, "title": entry.question}
    assert reply_cache_store(
        slot=slot, bot_id=bot.pk, customer=customer, text=entry.answer, sources=[faq_source]
    )
