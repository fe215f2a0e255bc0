"""The cheap model behind insights and FAQ drafts is as injectable as the chat model: what it
writes back is stored whatever characters it holds (NUL, lone surrogates), never a failed task.
"""

import json

import pytest

from conversations.domain.insights import insights_write
from conversations.knowledge.learning import faq_draft_write
from conversations.models import Conversation
from tests.agents_fixtures import chat_create
from tests.conversations.knowledge.test_learning import resolved_handoff
from tests.openai_server import Reply

pytestmark = pytest.mark.django_db

BAD = "Where\u0000 is my \ud800 parcel"
CLEAN = "Where is my \ufffd parcel"


@pytest.fixture
def cheap_model(settings, openai_server):
    settings.SUPPORTBOT_ENGINE = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_MAX_RETRIES = 0
    settings.SUPPORTBOT_FAQ_DRAFT_IN_BACKGROUND = False
    return openai_server


def test_insights_with_nul_and_surrogates_are_stored_cleaned(bot, cheap_model):
    conversation = chat_create(bot=bot, texts=["Where is my parcel?"])
    labels = [{"id": "c0", "title": BAD, "summary": BAD, "topic": "shipping", "resolved": True}]
    cheap_model.script(Reply(text=json.dumps({"conversations": labels})))
    assert insights_write(conversation_ids=[conversation.pk]) == 1
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert (conversation.title, conversation.summary) == (CLEAN, CLEAN)


def test_a_faq_draft_with_nul_and_surrogates_is_stored_cleaned(bot, agent_user, cheap_model):
    conversation = resolved_handoff(bot, agent_user, close=False)
    draft = {"general": True, "question": BAD + "?", "answer": BAD, "phrasings": [BAD + "!"]}
    cheap_model.script(Reply(text=json.dumps(draft)))
    entry = faq_draft_write(conversation_id=conversation.pk)
    assert (entry.question, entry.answer) == (CLEAN + "?", CLEAN)
    assert entry.alternatives == [CLEAN + "!"] and not entry.is_published
