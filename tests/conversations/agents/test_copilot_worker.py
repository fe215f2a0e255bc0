"""A copilot draft whose lookups run on a real `celery worker` (Redis broker, PostgreSQL):
the same tool path as the bot's replies, each call a ToolRun row of the draft."""

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections
from django.utils import timezone

from conversations.agents.copilot import draft_stream
from conversations.domain.messages import message_append
from conversations.models import Message, MessageRole, ReplyDraft, ToolRun, ToolRunStatus
from tests import factories
from tests.celery_worker import celery_worker_running
from tests.conftest import requires_postgres, requires_redis

pytestmark = [
    requires_redis,
    requires_postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def close_thread_connections():
    """Async tests use the ORM from asgiref's shared thread: close its connection afterwards
    so PostgreSQL can drop the test database."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(scope="module")
def worker(django_db_setup):
    """A worker on the "tools" queue that uses this test run's database."""
    with celery_worker_running(queue="tools", name="copilot-test") as process:
        yield process


@sync_to_async
def _a_verified_customer_asks_about_an_order():
    bot = factories.bot_create()
    factories.faq_load(bot=bot)
    shopper = factories.store_customer_create(bot=bot, email="ana@example.com")
    order = factories.order_create(bot=bot, customer=shopper, tracking=["1Z999AA10123456784"])
    customer = factories.customer_create(
        bot=bot, email="ana@example.com", verified_at=timezone.now()
    )
    conversation = factories.conversation_create(bot=bot, customer=customer)
    message_append(
        conversation_id=conversation.pk,
        role=MessageRole.CUSTOMER,
        text=f"Order {order.number}: can I return the water bottle?",
    )
    return conversation, order


async def test_a_drafts_lookups_run_on_the_worker_as_runs_of_the_draft(worker, settings):
    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_OFFLINE_DELAY = 0
    settings.CELERY_TASK_ALWAYS_EAGER = False
    conversation, order = await _a_verified_customer_asks_about_an_order()

    events = [
        e.to_dict()
        async for e in draft_stream(
            conversation_id=conversation.pk, agent_name="Dana", agent_id=None
        )
    ]

    assert events[-1]["type"] == "draft.done", events
    text = events[-1]["text"]
    assert order.number in text and "1Z999AA10123456784" in text
    assert {e["tool"] for e in events if e["type"] == "draft.tool"} == {"get_order", "search_faq"}
    draft = await ReplyDraft.objects.aget(conversation=conversation)
    runs = [r async for r in ToolRun.objects.filter(conversation=conversation)]
    assert {r.tool for r in runs} == {"get_order", "search_faq"}
    assert all(r.draft_id == draft.pk and r.message_id is None for r in runs)
    assert all(r.status == ToolRunStatus.SUCCEEDED for r in runs)
    assert all(r.worker.startswith("copilot-test@") for r in runs)
    assert draft.text == text
    # Only the customer's message: the draft is no part of the conversation.
    assert [m.role async for m in Message.objects.filter(conversation=conversation)] == [
        MessageRole.CUSTOMER
    ]
