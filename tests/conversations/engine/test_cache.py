"""Repeated FAQ questions answered from the cache, with hits and misses counted."""

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from conversations.engine.cache import question_cacheable, reply_cache_stats
from conversations.models import FaqEntry
from tests import factories
from tests.conversations.engine.conftest import FAQ, text_of, types

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cached(settings, offline_engine, bot, monkeypatch):
    """The cache on, the demo FAQ loaded, and the fake search_faq citing its real entry."""
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 600
    cache.clear()
    factories.faq_load(bot=bot)
    entry = FaqEntry.objects.get(bot=bot, question="What is your return policy?")
    monkeypatch.setitem(FAQ, "id", entry.pk)
    monkeypatch.setitem(FAQ, "answer", entry.answer)
    yield entry
    cache.clear()


def test_only_questions_without_customer_data_are_cacheable(settings):
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 600
    assert question_cacheable(text="What is your return policy?")
    assert not question_cacheable(text="Return policy for #W2611340?")
    assert not question_cacheable(text="I'm ann@example.com, what is the policy?")
    assert not question_cacheable(text="What about my zip 10001 area?")
    assert not question_cacheable(text="What is this?", images=1)
    assert not question_cacheable(text="hi")


async def test_a_repeated_faq_question_is_answered_from_the_cache(cached, bot, say, fake_tools):
    first = await sync_to_async(factories.conversation_create)(bot=bot)
    second = await sync_to_async(factories.conversation_create)(bot=bot)
    events = await say(first, "What is your return policy?")
    assert "tool.started" in types(events)
    events = await say(second, "what is your RETURN policy")
    assert types(events)[0] == "assistant.started" and events[0].engine == "cache"
    assert "tool.started" not in types(events)
    assert text_of(events) == cached.answer
    assert events[-1].sources == [{"id": cached.pk, "title": "What is your return policy?"}]
    assert len(fake_tools.calls) == 1
    assert await sync_to_async(reply_cache_stats)(bot_id=bot.pk) == {"hits": 1, "misses": 1}


async def test_editing_the_cited_entry_retires_cached_answers(cached, bot, say, fake_tools):
    await say(await sync_to_async(factories.conversation_create)(bot=bot), cached.question)
    cached.answer += " Sale items excepted."
    await cached.asave()
    events = await say(await sync_to_async(factories.conversation_create)(bot=bot), cached.question)
    started = next(e for e in events if e.type == "assistant.started")
    assert started.engine == "offline" and len(fake_tools.calls) == 2


async def test_only_first_turns_are_cached(cached, bot, say, fake_tools):
    conversation = await sync_to_async(factories.conversation_create)(bot=bot)
    await say(conversation, "Hello there, quick question")
    await say(conversation, "What is your return policy?")
    events = await say(await sync_to_async(factories.conversation_create)(bot=bot), cached.question)
    assert next(e for e in events if e.type == "assistant.started").engine == "offline"


async def test_answers_without_a_good_match_are_never_cached(cached, bot, say, fake_tools):
    fake_tools.faq_matches = False
    for _ in range(2):
        conversation = await sync_to_async(factories.conversation_create)(bot=bot)
        await say(conversation, "Do you sell spaceships to Mars?")
    assert len(fake_tools.calls) == 2  # no good match: never stored, so never served


@pytest.fixture
def searches(monkeypatch):
    """The questions the reply cache ran a FAQ search for (the real search, counted)."""
    from conversations.engine import cache as reply_cache

    asked: list[str] = []
    search = reply_cache.faq_search

    def counted(**kwargs):
        asked.append(kwargs["question"])
        return search(**kwargs)

    monkeypatch.setattr(reply_cache, "faq_search", counted)
    return asked


async def test_a_question_never_answered_into_the_cache_is_looked_up_without_a_search(
    cached, bot, say, fake_tools, searches
):
    await say(await sync_to_async(factories.conversation_create)(bot=bot), cached.question)
    # None at the lookup (nothing was ever stored for it); one to store the answer.
    assert searches == [cached.question]
    events = await say(
        await sync_to_async(factories.conversation_create)(bot=bot), "What is your RETURN policy?"
    )
    assert events[0].engine == "cache" and searches[1:] == ["What is your RETURN policy?"]


def test_an_answer_is_not_stored_when_its_entry_changed_after_the_question(cached, bot):
    from django.utils import timezone

    from conversations.engine.cache import CacheQuestion, reply_cache_answer_store

    customer = factories.customer_create(bot=bot)
    asked = timezone.now()
    cached.answer += " Sale items excepted."
    cached.save()

    def store(asked_at):
        question = CacheQuestion(
            bot_id=bot.pk,
            engine="offline",
            model="offline",
            text=cached.question,
            asked_at=asked_at,
        )
        sources = [{"id": cached.pk, "title": cached.question}]
        return reply_cache_answer_store(
            question=question, customer=customer, text=cached.answer, sources=sources
        )

    assert not store(asked)
    assert store(timezone.now())
