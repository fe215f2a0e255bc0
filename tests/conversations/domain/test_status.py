import pytest
from django.contrib.auth import get_user_model

from conversations.domain.errors import DomainError
from conversations.domain.status import (
    conversation_claim,
    conversation_close,
    conversation_rate,
    conversation_release,
    handoff_request,
)
from conversations.models import ConversationStatus, MessageRole


@pytest.fixture
def agent(db):
    return get_user_model().objects.create_user(username="alice", password="x", first_name="Alice")


def test_handoff_then_claim_then_release(conversation, agent):
    handoff_request(conversation_id=conversation.pk, summary="wants a refund")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.WAITING and conversation.owner == "nobody"
    conversation_claim(conversation_id=conversation.pk, agent=agent)
    conversation.refresh_from_db()
    assert conversation.owner == "agent" and conversation.assigned_agent == agent
    conversation_release(conversation_id=conversation.pk, agent=agent)
    conversation.refresh_from_db()
    assert conversation.owner == "bot" and conversation.assigned_agent is None
    events = list(
        conversation.messages.filter(role=MessageRole.EVENT).values_list("event", flat=True)
    )
    assert events == ["handoff_requested", "agent_joined", "bot_resumed"]


def test_second_agent_cannot_steal_a_claimed_conversation(conversation, agent):
    conversation_claim(conversation_id=conversation.pk, agent=agent)
    bob = get_user_model().objects.create_user(username="bob", password="x")
    with pytest.raises(DomainError) as caught:
        conversation_claim(conversation_id=conversation.pk, agent=bob)
    assert caught.value.code == "taken"


def test_closed_conversation_refuses_handoff(conversation):
    conversation_close(conversation_id=conversation.pk, closed_by="customer")
    with pytest.raises(DomainError):
        handoff_request(conversation_id=conversation.pk)


@pytest.mark.parametrize("rating", [0, 6, "5", True, 4.5])
def test_rating_must_be_one_to_five(conversation, rating):
    with pytest.raises(DomainError):
        conversation_rate(conversation_id=conversation.pk, rating=rating)


def test_rating_is_stored(conversation):
    conversation_rate(conversation_id=conversation.pk, rating=5, comment="quick and clear")
    conversation.refresh_from_db()
    assert (conversation.csat_rating, conversation.csat_comment) == (5, "quick and clear")
