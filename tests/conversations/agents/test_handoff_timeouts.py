from datetime import timedelta

from django.utils import timezone

from conversations.agents.handoff_timeouts import (
    handoff_unanswered_notify,
    handoffs_unanswered_notify_due,
)
from conversations.agents.queue import agent_queue
from conversations.agents.tasks import handoffs_unanswered
from conversations.domain.status import conversation_claim, handoff_request
from conversations.models import Conversation, MessageRole


def _waiting_since(conversation, seconds):
    handoff_request(conversation_id=conversation.pk)
    Conversation.objects.filter(pk=conversation.pk).update(
        handoff_requested_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_unclaimed_handoff_tells_the_customer_once(conversation, agent_user, settings):
    settings.SUPPORTBOT_HANDOFF_TIMEOUT = 120
    settings.SUPPORTBOT_AGENT_HOURS = ""
    _waiting_since(conversation, 60)
    assert handoffs_unanswered_notify_due() == 0
    Conversation.objects.filter(pk=conversation.pk).update(
        handoff_requested_at=timezone.now() - timedelta(seconds=180)
    )
    assert handoffs_unanswered_notify_due() == 1
    told = conversation.messages.get(event="handoff_unanswered")
    assert told.role == MessageRole.EVENT and "email" in told.text
    assert told.data == {"reason": "timeout", "ask_email": True}
    assert handoffs_unanswered_notify_due() == 0  # once per hand-off
    assert agent_queue(user=agent_user)[0]["customer_told"] is True


def test_outside_opening_hours_the_customer_is_told_at_once(conversation, settings):
    settings.SUPPORTBOT_AGENT_HOURS = "mon-mon 00:00-00:01"
    settings.SUPPORTBOT_AGENT_TIMEZONE = "Pacific/Kiritimati"
    _waiting_since(conversation, 0)
    now = timezone.now()
    from conversations.agents.hours import agents_at_work

    if agents_at_work(now=now):  # the one minute a week the test cannot tell apart
        return
    assert handoffs_unanswered.apply().get() == 1
    assert conversation.messages.get(event="handoff_unanswered").data["reason"] == "after_hours"


def test_a_claimed_conversation_is_left_alone(conversation, agent_user, settings):
    settings.SUPPORTBOT_AGENT_HOURS = ""
    _waiting_since(conversation, 10_000)
    conversation_claim(conversation_id=conversation.pk, agent=agent_user)
    assert handoff_unanswered_notify(conversation_id=conversation.pk, reason="timeout") is None
    assert handoffs_unanswered_notify_due() == 0


def test_queue_lists_waiting_oldest_first_then_agents(bot, agent_user, settings):
    from tests import factories

    old, new, owned, _idle = (factories.conversation_create(bot=bot) for _ in range(4))
    _waiting_since(owned, 900)
    conversation_claim(conversation_id=owned.pk, agent=agent_user)
    _waiting_since(new, 10)
    _waiting_since(old, 500)
    queue = agent_queue(user=agent_user)
    assert [entry["id"] for entry in queue] == [str(old.pk), str(new.pk), str(owned.pk)]
    assert queue[0]["waited_seconds"] >= 500 and queue[2]["agent"] == "Alice"
