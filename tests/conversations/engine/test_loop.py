"""The reply loop's database round trip before the model call, pinned in queries."""

import pytest

from conversations.domain.messages import message_append
from conversations.engine.loop import _prepare
from conversations.models import MessageRole
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

# The conversation (bot, customer, summary, any images), its messages, their images; the
# assistant row: begin, the lock that takes the sequence number, the row, commit. Whatever the
# history's length.
QUERIES_PREPARE = 7


@pytest.mark.parametrize("turns", [1, 5])
def test_prepare_takes_the_same_queries_however_long_the_history(
    conversation, agent_user, turns, settings, tmp_path, django_assert_num_queries
):
    settings.MEDIA_ROOT = tmp_path
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 0
    factories.turns_with_images_create(conversation=conversation, agent=agent_user, turns=turns)
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="and now?")
    with django_assert_num_queries(QUERIES_PREPARE):
        prepared = _prepare(conversation_id=conversation.pk, engine="offline", ask_moderation=False)
    assert prepared.row is not None and prepared.rejected is None


def test_prepare_skips_the_image_lookup_when_no_image_was_attached(
    conversation, settings, django_assert_num_queries
):
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 0
    for text in ("hello", "where is my order?"):
        message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text)
    with django_assert_num_queries(QUERIES_PREPARE - 1):
        prepared = _prepare(conversation_id=conversation.pk, engine="offline", ask_moderation=False)
    assert prepared.row is not None
    assert [t.messages[0]["content"] for t in prepared.history.turns] == [
        "hello",
        "where is my order?",
    ]
