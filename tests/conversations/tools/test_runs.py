"""Tool runs as rows: the queries of preparing and executing one, pinned."""

import json

import pytest
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.models import MessageRole, ToolRun, ToolRunStatus
from conversations.tools.runs import tool_run_execute, tool_run_prepare
from tests import factories

pytestmark = pytest.mark.django_db

QUERIES_PREPARE = 5  # the idempotency lookup, the bot (may it use the tool), the row (3)
# Claim, load, the customer, the bot (may it use the tool), the order (4: lines, payments,
# fulfilments), result, status.
QUERIES_EXECUTE = 10


def test_prepare_and_execute_take_a_pinned_number_of_queries(bot, django_assert_num_queries):
    shopper = factories.store_customer_create(bot=bot)
    order = factories.order_create(bot=bot, customer=shopper)
    customer = factories.customer_create(bot=bot, email=shopper.email, verified_at=timezone.now())
    conversation = factories.conversation_create(bot=bot, customer=customer)
    message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    with django_assert_num_queries(QUERIES_PREPARE):
        prepared = tool_run_prepare(
            conversation_id=conversation.pk,
            message_id=message.pk,
            call_id="call_1",
            name="get_order",
            arguments_json=json.dumps({"order_number": order.number}),
        )
    assert prepared.status == ToolRunStatus.QUEUED
    with django_assert_num_queries(QUERIES_EXECUTE):
        status = tool_run_execute(run_id=prepared.run_id)
    assert status == ToolRunStatus.SUCCEEDED
    assert ToolRun.objects.get(pk=prepared.run_id).result["data"]["order"]["number"] == order.number
