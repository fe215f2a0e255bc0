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


# Begin, the lock that adds the usage (status and webhook flag returned), the row, commit.
QUERIES_ROW_FINISH = 4


def test_the_final_write_takes_a_pinned_number_of_queries(conversation, django_assert_num_queries):
    from decimal import Decimal

    from conversations.engine.backends import Usage
    from conversations.engine.persistence import assistant_row_create, row_finish
    from conversations.models import Message, MessageState

    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hello")
    row = assistant_row_create(
        conversation_id=conversation.pk, engine="offline", model="offline", allow_waiting=False
    )
    with django_assert_num_queries(QUERIES_ROW_FINISH):
        state, reason = row_finish(
            conversation_id=conversation.pk,
            message_id=row.pk,
            allow_waiting=False,
            usage=Usage(120, 30, 0),
            cost=Decimal("0.0001"),
            text="Hello! How can I help?",
            state=MessageState.COMPLETE,
            finish_reason="stop",
        )
    assert (state, reason) == (MessageState.COMPLETE, "stop")
    stored = Message.objects.get(pk=row.pk)
    assert stored.text == "Hello! How can I help?" and stored.tokens > 0
    conversation.refresh_from_db()
    assert (conversation.prompt_tokens, conversation.completion_tokens) == (120, 30)


def test_a_checkpoint_is_one_statement_that_stops_writing_after_a_takeover(
    conversation, django_assert_num_queries
):
    from conversations.engine.persistence import assistant_row_create, checkpoint
    from conversations.models import ConversationStatus, Message, MessageState

    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hello")
    row = assistant_row_create(
        conversation_id=conversation.pk, engine="offline", model="offline", allow_waiting=False
    )
    saved = {"conversation_id": conversation.pk, "message_id": row.pk, "allow_waiting": False}
    with django_assert_num_queries(1):
        assert checkpoint(text="Hello! How", **saved)
    stored = Message.objects.get(pk=row.pk)
    assert stored.text == "Hello! How" and stored.lease_expires_at > row.lease_expires_at
    conversation.status = ConversationStatus.WAITING
    conversation.save(update_fields=["status"])
    assert not checkpoint(text="Hello! How can", **saved)
    assert checkpoint(text="Hello! How can", **{**saved, "allow_waiting": True})
    Message.objects.filter(pk=row.pk).update(state=MessageState.INTERRUPTED)
    assert not checkpoint(text="Hello! How can I", **{**saved, "allow_waiting": True})
    assert Message.objects.get(pk=row.pk).text == "Hello! How can"
