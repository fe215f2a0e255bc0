"""The assistant row's checkpoints: several replies' in one write, each with its own answer."""

import asyncio

import pytest

from conversations.domain.messages import message_append
from conversations.engine import persistence
from conversations.engine.persistence import assistant_row_create, checkpoint_save
from conversations.models import ConversationStatus, Message, MessageRole
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def _streaming_row(conversation) -> int:
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="hello")
    row = assistant_row_create(
        conversation_id=conversation.pk, engine="openai", model="m", allow_waiting=False
    )
    return row.pk


def _saved(conversation, message_id: int, text: str) -> dict:
    return {
        "conversation_id": conversation.pk,
        "message_id": message_id,
        "text": text,
        "allow_waiting": False,
    }


def test_checkpoints_written_together_answer_for_each_reply(bot, customer):
    kept = factories.conversation_create(bot=bot, customer=customer)
    taken = factories.conversation_create(bot=bot, customer=customer)
    kept_row, taken_row = _streaming_row(kept), _streaming_row(taken)
    taken.status = ConversationStatus.AGENT
    taken.save(update_fields=["status"])

    owned = persistence.checkpoints_write(
        [_saved(kept, kept_row, "Hello! How"), _saved(taken, taken_row, "Sure, I")]
    )

    assert owned == [True, False]
    assert Message.objects.get(pk=kept_row).text == "Hello! How"
    assert Message.objects.get(pk=taken_row).text == ""


async def test_checkpoints_falling_due_together_share_one_write(bot, customer, monkeypatch):
    conversations = [
        await asyncio.to_thread(factories.conversation_create, bot=bot, customer=customer)
        for _ in range(3)
    ]
    rows = [await asyncio.to_thread(_streaming_row, c) for c in conversations]
    batches: list[int] = []
    write = persistence.checkpoints_write

    def counted(batch):
        batches.append(len(batch))
        return write(batch)

    monkeypatch.setattr(persistence, "checkpoints_write", counted)

    # Three replies due in the same tick go together; one due while they are written waits
    # for the next write, and nothing is lost or answered for another reply.
    first = [
        checkpoint_save(**_saved(c, r, f"text {n}"))
        for n, (c, r) in enumerate(zip(conversations, rows, strict=True))
    ]
    await asyncio.sleep(0)
    later = checkpoint_save(**_saved(conversations[0], rows[0], "text 0, more"))
    assert await asyncio.gather(*first, later) == [True, True, True, True]

    assert batches == [3, 1]
    stored = await asyncio.to_thread(
        lambda: dict(Message.objects.filter(pk__in=rows).values_list("pk", "text"))
    )
    assert stored == {rows[0]: "text 0, more", rows[1]: "text 1", rows[2]: "text 2"}
