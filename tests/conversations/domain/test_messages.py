from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from conversations.domain.messages import message_append, message_serialize, messages_after
from conversations.models import Conversation, MessageRole
from tests.conftest import requires_postgres


def test_messages_get_consecutive_sequence_numbers(conversation):
    first, _ = message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hi")
    second, _ = message_append(
        conversation_id=conversation.pk, role=MessageRole.ASSISTANT, text="hello"
    )
    assert (first.seq, second.seq) == (1, 2)
    conversation.refresh_from_db()
    assert conversation.last_seq == 2
    assert conversation.last_message_at is not None


def test_resend_with_same_client_id_is_not_duplicated(conversation):
    first, created = message_append(
        conversation_id=conversation.pk,
        role=MessageRole.CUSTOMER,
        text="where is my order",
        client_id="c-1",
    )
    again, created_again = message_append(
        conversation_id=conversation.pk,
        role=MessageRole.CUSTOMER,
        text="where is my order",
        client_id="c-1",
    )
    assert created and not created_again
    assert again.pk == first.pk
    assert conversation.messages.count() == 1


def test_unknown_role_is_refused(conversation):
    with pytest.raises(ValueError, match="Unknown message role"):
        message_append(conversation_id=conversation.pk, role="wizard", text="x")


def test_messages_after_returns_what_a_client_missed(conversation):
    for n in range(5):
        message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=f"m{n}")
    missed = messages_after(conversation_id=conversation.pk, after_seq=3)
    assert [m.seq for m in missed] == [4, 5]
    payload = message_serialize(missed[0])
    assert (
        payload["text"] == "m3" and payload["role"] == "customer" and payload["attachments"] == []
    )


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_share_a_sequence_number(bot, customer):
    conversation = Conversation.objects.create(
        bot=bot, customer=customer, resume_token_hash="h" * 64
    )

    def write(n: int) -> int:
        try:
            message, _ = message_append(
                conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=str(n)
            )
            return message.seq
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        seqs = list(pool.map(write, range(40)))
    assert sorted(seqs) == list(range(1, 41))
