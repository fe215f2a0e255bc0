"""The order tools, run as the model would call them (on a real worker with PostgreSQL + Redis,
in-process on the embedded default), for every identity trick: nobody gets another's orders."""

import json

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections

from conversations.domain.conversation import Identity, conversation_open, session_open
from conversations.domain.messages import message_append
from conversations.edge.identity import identity_signature
from conversations.models import MessageRole, ToolRunStatus
from conversations.tools import ToolCall, tool_calls_execute
from tests import factories
from tests.conftest import HAS_POSTGRES, HAS_REDIS

pytestmark = pytest.mark.django_db(transaction=True)

BROWSER = "browser_0123456789abcdef"


@pytest.fixture(autouse=True)
def close_thread_connections():
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(scope="module")
def worker(django_db_setup):
    """A real worker on the "tools" queue where CI's services exist; else tools run in-process."""
    if not (HAS_POSTGRES and HAS_REDIS):
        yield None
        return
    from tests.celery_worker import celery_worker_running

    with celery_worker_running(queue="tools", name="identity-test", concurrency=2) as process:
        yield process


def _signed(bot, **fields) -> Identity:
    value = fields.get("external_id") or fields.get("email", "")
    return Identity(**fields, signature=identity_signature(secret=bot.identity_secret, value=value))


@sync_to_async
def _store_and_conversations():
    bot = factories.bot_create()
    alice = factories.store_customer_create(bot=bot, external_id="cust-a", email="a@example.com")
    account_order = factories.order_create(bot=bot, customer=alice)
    guest = factories.store_customer_create(bot=bot, external_id="", email="victim@example.com")
    guest_order = factories.order_create(bot=bot, customer=guest)

    real, token, _ = session_open(
        bot=bot, visitor_id=BROWSER, identity=_signed(bot, external_id="cust-a")
    )
    attacks = {
        # Hole 1: the browser's id, unsigned, over the API.
        "visitor id": conversation_open(bot=bot, visitor_id=BROWSER)[0],
        # Hole 5: a signed id of one's own and the victim's email beside it.
        "claimed email": conversation_open(
            bot=bot,
            visitor_id="api-mallory",
            identity=Identity(
                external_id="cust-m",
                email="victim@example.com",
                signature=identity_signature(secret=bot.identity_secret, value="cust-m"),
            ),
        )[0],
        # Hole 7: the same browser after logging out, resuming with the old token.
        "logged out": session_open(
            bot=bot, visitor_id=BROWSER, identity=None, conversation_id=str(real.pk), token=token
        )[0],
    }
    return real, attacks, [account_order.number, guest_order.number]


async def _run(conversation, numbers) -> str:
    message, _ = await sync_to_async(message_append)(
        conversation_id=conversation.pk, role=MessageRole.ASSISTANT
    )
    calls = [ToolCall(id="call_list", name="list_recent_orders", arguments="{}")] + [
        ToolCall(id=f"call_{n}", name="get_order", arguments=json.dumps({"order_number": n}))
        for n in numbers
    ]
    outcomes = [
        o
        async for o in tool_calls_execute(
            conversation_id=conversation.pk, message_id=message.pk, calls=calls
        )
    ]
    assert all(o.status != ToolRunStatus.TIMEOUT for o in outcomes)
    return json.dumps([o.data for o in outcomes])


async def test_no_identity_trick_reads_an_order_through_the_tools(worker):
    real, attacks, numbers = await _store_and_conversations()

    # The signed-in customer sees her own account order: the tools do work here.
    assert numbers[0] in await _run(real, numbers[:1])
    for name, conversation in attacks.items():
        seen = await _run(conversation, numbers)
        leaked = [n for n in numbers if n in seen]
        assert leaked == [], f"{name}: {leaked}"
