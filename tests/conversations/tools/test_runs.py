"""Tool runs as rows: the queries of preparing and executing one, pinned."""

import json

import pytest
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.models import MessageRole, ToolRun, ToolRunStatus
from conversations.tools.registry import (
    NoArguments,
    Tool,
    ToolContext,
    ToolResult,
    tool_register,
    tool_unregister,
)
from conversations.tools.runs import (
    ExecutedRun,
    tool_run_execute,
    tool_run_perform,
    tool_run_prepare,
    tool_run_time_out,
)
from tests import factories

pytestmark = pytest.mark.django_db

QUERIES_PREPARE = 6  # the idempotency lookup, the bot (2: may it use the tool), the row (3)
# The run with its conversation, customer and bot (one join), the claim, the order (4: lines,
# payments, fulfilments), the result.
QUERIES_EXECUTE = 7


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
    assert tool_run_perform(run_id=prepared.run_id) == ExecutedRun(ToolRunStatus.SUCCEEDED)


def test_a_run_timed_out_while_its_tool_ran_stays_timed_out_and_reports_nothing_stored(bot):
    def gives_up_meanwhile(*, context: ToolContext) -> ToolResult:
        for run in ToolRun.objects.filter(status=ToolRunStatus.RUNNING):
            tool_run_time_out(run_id=run.pk, timeout=1)  # the engine stops waiting
        return ToolResult(data={"late": True})

    tool_register(
        Tool(
            name="gives_up_meanwhile",
            description="tests only",
            arguments=NoArguments,
            function=gives_up_meanwhile,
            label="…",
            done_label="…",
        )
    )
    try:
        conversation = factories.conversation_create(bot=bot)
        message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
        prepared = tool_run_prepare(
            conversation_id=conversation.pk,
            message_id=message.pk,
            call_id="call_1",
            name="gives_up_meanwhile",
            arguments_json="{}",
        )
        executed = tool_run_perform(run_id=prepared.run_id)
        again = tool_run_perform(run_id=prepared.run_id)  # a redelivered task
    finally:
        tool_unregister("gives_up_meanwhile")
    assert executed == ExecutedRun(ToolRunStatus.TIMEOUT)  # no result: the waiter reads the row
    assert again == ExecutedRun(ToolRunStatus.TIMEOUT)
    run = ToolRun.objects.get(pk=prepared.run_id)
    assert run.status == ToolRunStatus.TIMEOUT
    assert run.result["data"]["error"] == "timeout"
