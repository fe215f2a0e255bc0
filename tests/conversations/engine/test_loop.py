"""The reply loop's database round trip before the model call, pinned in queries."""

import pytest

from conversations.domain.messages import message_append
from conversations.engine.loop import _prepare
from conversations.models import MessageRole
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

# History, input check, cache lookup, tools and the assistant row: whatever the history's length.
QUERIES_PREPARE = 12


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
