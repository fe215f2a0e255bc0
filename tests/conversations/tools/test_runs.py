"""Tool runs as rows: the queries of preparing and executing one, pinned."""

import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.domain.messages import message_append
from conversations.models import (
    ConversationStatus,
    Message,
    MessageRole,
    OrderAction,
    ReplyDraft,
    ToolRun,
    ToolRunStatus,
)
from conversations.tools.registry import (
    NoArguments,
    Tool,
    ToolContext,
    ToolResult,
    tool_register,
    tool_unregister,
)
from conversations.tools.run_commits import WITHOUT_WAITING_SQL
from conversations.tools.runs import (
    ExecutedRun,
    tool_run_execute,
    tool_run_perform,
    tool_run_prepare,
    tool_run_time_out,
)
from tests import factories
from tests.conftest import requires_postgres

pytestmark = pytest.mark.django_db

# The bot (may it use the tool), the row (3 here, a savepoint around the INSERT inside the
# test's transaction; outside one the INSERT alone).
QUERIES_PREPARE = 4


def queries_execute() -> int:
    """The claim with the run, its conversation, customer, bot and draft (one statement on
    PostgreSQL, a read and the claim elsewhere), the order (4: lines, payments, fulfilments),
    the result."""
    return 6 if connection.vendor == "postgresql" else 7


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
    with django_assert_num_queries(queries_execute()):
        status = tool_run_execute(run_id=prepared.run_id)
    assert status == ToolRunStatus.SUCCEEDED
    assert ToolRun.objects.get(pk=prepared.run_id).result["data"]["order"]["number"] == order.number
    assert tool_run_perform(run_id=prepared.run_id) == ExecutedRun(ToolRunStatus.SUCCEEDED)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_runs_own_commits_skip_the_disk_wait_and_a_callers_transaction_decides_its_own(bot):
    """The row, the claim and the result commit with synchronous_commit off for themselves
    alone; inside a caller's transaction they change nothing about its commit."""
    shopper = factories.store_customer_create(bot=bot)
    order = factories.order_create(bot=bot, customer=shopper)
    customer = factories.customer_create(bot=bot, email=shopper.email, verified_at=timezone.now())
    conversation = factories.conversation_create(bot=bot, customer=customer)
    message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)

    def run(call_id):
        prepared = tool_run_prepare(
            conversation_id=conversation.pk,
            message_id=message.pk,
            call_id=call_id,
            name="get_order",
            arguments_json=json.dumps({"order_number": order.number}),
        )
        return tool_run_execute(run_id=prepared.run_id)

    with CaptureQueriesContext(connection) as alone:
        assert run("call_alone") == ToolRunStatus.SUCCEEDED
    statements = [query["sql"] for query in alone.captured_queries]
    assert sum("SET LOCAL synchronous_commit TO OFF" in sql for sql in statements) == 1  # row
    assert sum(WITHOUT_WAITING_SQL in sql for sql in statements) == 2  # claim, result

    with transaction.atomic():
        with CaptureQueriesContext(connection) as inside:
            assert run("call_inside") == ToolRunStatus.SUCCEEDED
        assert not any("synchronous_commit" in query["sql"] for query in inside.captured_queries)
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    stored = ToolRun.objects.filter(message=message).order_by("call_id")
    assert [(r.call_id, r.status) for r in stored] == [
        ("call_alone", ToolRunStatus.SUCCEEDED),
        ("call_inside", ToolRunStatus.SUCCEEDED),
    ]
    assert all(r.result["data"]["order"]["number"] == order.number for r in stored)


def _draft_of(conversation, tools):
    return ReplyDraft.objects.create(conversation=conversation, tools=tools)


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("cancel_order", {"order_number": "#1001", "reason": "ordered by mistake"}),
        ("start_return", {"order_number": "#1001", "item_ids": ["1"]}),
        ("handoff_to_human", {"summary": "wants a person"}),
        ("identify_customer", {"order_number": "#1001", "email_or_zip": "a@example.com"}),
    ],
)
def test_a_drafts_write_tool_is_refused_when_recorded(conversation, settings, name, arguments):
    settings.SUPPORTBOT_ORDER_ACTIONS = True
    # Even a draft whose offered list names the tool: only read-only tools run for drafts.
    draft = _draft_of(conversation, ["get_order", name])
    prepared = tool_run_prepare(
        conversation_id=conversation.pk,
        draft_id=draft.pk,
        call_id="call_1",
        name=name,
        arguments_json=json.dumps(arguments),
    )
    run = ToolRun.objects.get(pk=prepared.run_id)
    assert (run.status, run.draft_id, run.message_id) == (ToolRunStatus.INVALID, draft.pk, None)
    assert run.result["data"]["error"] == "tool_not_available"
    assert tool_run_execute(run_id=run.pk) == ToolRunStatus.INVALID
    assert ToolRun.objects.get(pk=run.pk).started_at is None
    assert not OrderAction.objects.exists()
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT


def test_a_drafts_write_run_recorded_as_queued_anyway_is_refused_when_it_executes(
    conversation, settings
):
    """The executor checks again: a row written any other way still never runs."""
    settings.SUPPORTBOT_ORDER_ACTIONS = True
    draft = _draft_of(conversation, ["handoff_to_human"])
    run = ToolRun.objects.create(
        conversation=conversation,
        draft=draft,
        call_id="call_1",
        tool="handoff_to_human",
        arguments={"summary": "wants a person"},
        status=ToolRunStatus.QUEUED,
    )
    assert tool_run_execute(run_id=run.pk) == ToolRunStatus.INVALID
    run.refresh_from_db()
    assert run.result["data"]["error"] == "tool_not_available"
    assert "may not run for a draft" in run.error
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT
    assert not Message.objects.filter(conversation=conversation).exists()


def test_a_draft_runs_only_the_read_only_tools_it_was_offered(conversation):
    draft = _draft_of(conversation, ["search_faq"])
    offered = tool_run_prepare(
        conversation_id=conversation.pk,
        draft_id=draft.pk,
        call_id="call_1",
        name="search_faq",
        arguments_json=json.dumps({"question": "refunds"}),
    )
    not_offered = tool_run_prepare(
        conversation_id=conversation.pk,
        draft_id=draft.pk,
        call_id="call_2",
        name="list_recent_orders",
        arguments_json="{}",
    )
    assert offered.status == ToolRunStatus.QUEUED
    assert tool_run_execute(run_id=offered.run_id) == ToolRunStatus.SUCCEEDED
    assert not_offered.status == ToolRunStatus.INVALID


def test_a_run_belongs_to_a_message_or_a_draft_never_both_nor_neither(conversation):
    message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    draft = _draft_of(conversation, [])
    for owner in ({}, {"message": message, "draft": draft}):
        with pytest.raises(IntegrityError), transaction.atomic():
            ToolRun.objects.create(conversation=conversation, call_id="c", tool="t", **owner)
    with pytest.raises(ValueError):
        tool_run_prepare(conversation_id=conversation.pk, call_id="c", name="t", arguments_json="")


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
