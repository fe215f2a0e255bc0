"""Learning from agents: a hand-off an agent resolved becomes an unpublished FAQ entry; once
published, the bot answers the same question with it."""

import json
import time

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections

from conversations.agents.messaging import agent_reply
from conversations.domain.messages import message_append
from conversations.domain.status import conversation_claim, conversation_close, handoff_request
from conversations.knowledge.learning import faq_draft_write
from conversations.models import FaqEntry, MessageRole
from tests import factories
from tests.openai_server import Reply


@pytest.fixture(autouse=True)
def drafts_on_celery(settings):
    """The Celery path (a worker, or in-process with eager_tasks); one test below takes the
    embedded default's drafting thread instead."""
    settings.SUPPORTBOT_FAQ_DRAFT_IN_BACKGROUND = False


QUESTION = "Can I pay by bank transfer?"
ANSWER = "Yes: bank transfers are accepted for orders over $500. Email billing@example-store.com."


def resolved_handoff(bot, agent, *, close=True):
    conversation = factories.conversation_create(bot=bot)
    for text in ("Hi", QUESTION, "I'd like to wire the money, my email is ann@example.com"):
        message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text)
    message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT, text="Not sure.")
    message_append(
        conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="talk to a human"
    )
    handoff_request(conversation_id=conversation.pk, summary="bank transfer")
    conversation_claim(conversation_id=conversation.pk, agent=agent)
    agent_reply(conversation_id=conversation.pk, agent=agent, text="Hi, I'm Alice, let me check.")
    agent_reply(conversation_id=conversation.pk, agent=agent, text=ANSWER)
    if close:
        conversation_close(conversation_id=conversation.pk, closed_by="agent", agent=agent)
    return conversation


def test_an_agent_resolved_handoff_is_drafted_unpublished(
    bot, agent_user, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        conversation = resolved_handoff(bot, agent_user)
    draft = FaqEntry.objects.get(bot=bot)
    assert (draft.question, draft.is_published, draft.drafted_from_id) == (
        QUESTION,
        False,
        conversation.pk,
    )
    assert draft.answer == ANSWER  # the greeting and "let me check" are left out
    assert draft.alternatives == ["I'd like to wire the money, my email is [email]"]
    assert faq_draft_write(conversation_id=conversation.pk) is None  # once per conversation


def test_nothing_is_drafted_without_a_handoff_an_agent_closed(bot, agent_user):
    open_one = resolved_handoff(bot, agent_user, close=False)
    assert faq_draft_write(conversation_id=open_one.pk) is not None  # the task checks rows only
    FaqEntry.objects.all().delete()
    plain = factories.conversation_create(bot=bot)
    message_append(conversation_id=plain.pk, role=MessageRole.CUSTOMER, text=QUESTION)
    assert faq_draft_write(conversation_id=plain.pk) is None


def test_the_openai_path_asks_the_insights_model(bot, agent_user, settings, openai_server):
    settings.SUPPORTBOT_ENGINE = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = openai_server.base_url
    conversation = resolved_handoff(bot, agent_user)
    draft = {
        "general": True,
        "question": "Do you accept bank transfers?",
        "answer": "Yes, for orders over $500; email billing@example-store.com.",
        "phrasings": ["Can I pay by bank transfer?", "wire the money"],
    }
    openai_server.script(Reply(text=json.dumps(draft)))
    entry = faq_draft_write(conversation_id=conversation.pk)
    assert entry.question == "Do you accept bank transfers?" and not entry.is_published
    assert entry.alternatives == ["Can I pay by bank transfer?", "wire the money"]
    request = openai_server.chat_requests()[-1]
    assert request.body["model"] == "gpt-4.1-nano"
    assert "ann@example.com" in request.body["messages"][1]["content"]  # the transcript, as data

    other = resolved_handoff(bot, agent_user)
    openai_server.script(Reply(text=json.dumps({"general": False})))
    assert faq_draft_write(conversation_id=other.pk) is None


@pytest.mark.django_db(transaction=True)
async def test_a_published_draft_answers_the_same_question_next_time(
    settings, eager_tasks, agent_user
):
    from conversations.engine import reply_stream

    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_OFFLINE_DELAY = 0
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 0
    bot = await sync_to_async(factories.bot_create)()
    await sync_to_async(factories.faq_load)(bot=bot)

    async def ask(text, conversation=None):
        conversation = conversation or await sync_to_async(factories.conversation_create)(bot=bot)
        await sync_to_async(message_append)(
            conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text
        )
        events = [e async for e in reply_stream(conversation_id=conversation.pk)]
        return conversation, events[-1].text

    try:
        conversation, first = await ask(QUESTION)
        assert "$500" not in first
        await ask("Can I talk to a human please?", conversation)

        @sync_to_async
        def agent_resolves():
            conversation_claim(conversation_id=conversation.pk, agent=agent_user)
            agent_reply(conversation_id=conversation.pk, agent=agent_user, text=ANSWER)
            conversation_close(conversation_id=conversation.pk, closed_by="agent", agent=agent_user)
            draft = FaqEntry.objects.get(bot=bot, drafted_from=conversation)
            draft.is_published = True
            draft.save(update_fields=["is_published", "updated_at"])

        await agent_resolves()
        _, again = await ask(QUESTION)
        assert "bank transfers are accepted for orders over $500" in again
    finally:
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()


def test_a_failing_draft_never_fails_the_close(
    bot, agent_user, eager_tasks, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("the model is down")

    monkeypatch.setattr("conversations.knowledge.tasks.faq_draft_write", broken)
    with django_capture_on_commit_callbacks(execute=True):
        conversation = resolved_handoff(bot, agent_user)
    conversation.refresh_from_db()
    assert conversation.status == "closed" and not FaqEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_on_the_embedded_default_the_close_does_not_wait_for_the_draft(
    bot, agent_user, settings, openai_server
):
    from conversations.background import background_wait

    settings.SUPPORTBOT_FAQ_DRAFT_IN_BACKGROUND = True
    settings.SUPPORTBOT_ENGINE = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = openai_server.base_url
    draft = {"general": True, "question": "Do you accept bank transfers?", "answer": ANSWER}
    openai_server.script(Reply(text=json.dumps(draft), header_delay=2.0))  # a slow model
    conversation = resolved_handoff(bot, agent_user, close=False)
    started = time.perf_counter()
    conversation_close(conversation_id=conversation.pk, closed_by="agent", agent=agent_user)
    assert time.perf_counter() - started < 1.5
    assert not FaqEntry.objects.filter(drafted_from=conversation).exists()
    background_wait(timeout=30)  # the drafts queued before it
    entry = FaqEntry.objects.get(drafted_from=conversation)
    assert entry.question == "Do you accept bank transfers?" and not entry.is_published
