import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations.domain.status import handoff_request
from conversations.models import Conversation, ConversationStatus, Message, MessageRole
from tests import factories
from tests.agents_fixtures import chat_create

CHANGELIST = reverse("admin:conversations_conversation_changelist")


def _changelist_queries(client, url=CHANGELIST):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response, queries


def test_changelist_query_count_is_fixed_and_does_not_grow_with_rows(client, agent_user, bot):
    client.force_login(agent_user)
    other_bot = factories.bot_create()
    for n in range(5):
        chat_create(bot=bot if n % 2 else other_bot, email=f"c{n}@example.com")
    few, _, _ = _changelist_queries(client)
    for n in range(25):
        chat_create(bot=bot, email=f"d{n}@example.com", csat_rating=(n % 5) + 1)
    many, response, queries = _changelist_queries(client)
    assert many == few
    # Session, user, user and group permissions, bots for the filter, count, the rows.
    assert many == 7, [q["sql"][:90] for q in queries.captured_queries]
    assert response.content.count(b'class="action-checkbox"') == 30


@pytest.mark.parametrize(
    "query",
    [
        "?status__exact=waiting",
        "?handed_off=yes",
        "?csat=5",
        "?model=gpt-4o-mini",
        "?flagged__exact=1",
        "?created_at__gte=2020-01-01+00%3A00%3A00%2B00%3A00",
        "?q=refund",
    ],
)
def test_every_filter_and_search_keeps_the_query_count(client, agent_user, bot, query):
    client.force_login(agent_user)
    for n in range(12):
        chat_create(bot=bot, texts=["I want a refund" if n % 2 else "hello"], csat_rating=5)
    count, _, queries = _changelist_queries(client, CHANGELIST + query)
    assert count == 7, [q["sql"][:90] for q in queries.captured_queries]


def test_search_finds_message_text_and_customer_email(client, agent_user, bot):
    client.force_login(agent_user)
    refund = chat_create(bot=bot, texts=["Please refund my broken kettle"])
    by_email = chat_create(bot=bot, texts=["hi"], email="jane@example.com")
    other = chat_create(bot=bot, texts=["hello there"])
    body = client.get(CHANGELIST + "?q=kettle").content.decode()
    assert str(refund.pk)[:8] in body and str(other.pk)[:8] not in body
    body = client.get(CHANGELIST + "?q=jane@example").content.decode()
    assert str(by_email.pk)[:8] in body and str(refund.pk)[:8] not in body


def test_filters_select_the_right_conversations(client, agent_user, bot):
    client.force_login(agent_user)
    handed = chat_create(bot=bot)
    handoff_request(conversation_id=handed.pk)
    flagged = chat_create(bot=bot, flagged=True)
    plain = chat_create(bot=bot)
    body = client.get(CHANGELIST + "?handed_off=yes").content.decode()
    assert str(handed.pk)[:8] in body and str(plain.pk)[:8] not in body
    body = client.get(CHANGELIST + "?flagged__exact=1").content.decode()
    assert str(flagged.pk)[:8] in body and str(handed.pk)[:8] not in body


def test_transcript_page_reads_like_the_chat(client, agent_user, bot):
    client.force_login(agent_user)
    conversation = chat_create(
        bot=bot, texts=["Where is order #W42?"], title="Order W42", summary="Asked for W42."
    )
    assistant = conversation.messages.get(role=MessageRole.ASSISTANT)
    assistant.tool_calls = [{"id": "call_1", "name": "order_lookup", "arguments": "{}"}]
    assistant.save()
    conversation.tool_runs.create(
        message=assistant,
        call_id="call_1",
        tool="order_lookup",
        arguments={"order_number": "#W42"},
        result={"status": "shipped"},
        status="succeeded",
        duration_ms=12,
    )
    Message.objects.filter(pk=assistant.pk).update(state="interrupted")
    from conversations.domain.messages import message_append

    message_append(
        conversation_id=conversation.pk, role=MessageRole.AGENT, text="I'm Alice", author=agent_user
    )
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    response = client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Order W42" in body and "Asked for W42." in body
    assert body.index("Where is order #W42?") < body.index("Answer 0") < body.index("m Alice")
    assert 'class="bubble from-customer"' in body and 'class="bubble from-agent"' in body
    assert "Agent Alice" in body
    assert "order_lookup" in body and "&quot;shipped&quot;" in body
    assert "gpt-4o-mini" in body and "first token 300 ms" in body and "Interrupted" in body


def test_flag_action_asks_for_a_note_then_flags(client, agent_user, bot):
    client.force_login(agent_user)
    conversation = chat_create(bot=bot)
    data = {"action": "flag_for_review", "_selected_action": [str(conversation.pk)]}
    response = client.post(CHANGELIST, data)
    assert response.status_code == 200 and b"Flag for review" in response.content
    client.post(CHANGELIST, {**data, "apply": "1", "note": "bot promised a refund"})
    conversation.refresh_from_db()
    assert conversation.flagged and conversation.flag_note == "bot promised a refund"


def test_close_action_closes_and_records(client, agent_user, bot):
    client.force_login(agent_user)
    conversation = chat_create(bot=bot)
    client.post(
        CHANGELIST, {"action": "close_conversations", "_selected_action": [str(conversation.pk)]}
    )
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.messages.filter(event="closed").exists()


def test_export_actions_stream_json_and_csv(client, agent_user, bot):
    client.force_login(agent_user)
    first = chat_create(bot=bot, texts=["=cmd|' /C calc'!A0"], email="a@example.com")
    chat_create(bot=bot)
    selected = [str(c.pk) for c in Conversation.objects.all()]
    response = client.post(CHANGELIST, {"action": "export_json", "_selected_action": selected})
    assert response.streaming
    exported = json.loads(b"".join(response.streaming_content))
    assert {c["id"] for c in exported} == set(selected)
    mine = next(c for c in exported if c["id"] == str(first.pk))
    assert [m["role"] for m in mine["messages"]] == ["customer", "assistant"]
    assert mine["customer"]["email"] == "a@example.com"
    response = client.post(CHANGELIST, {"action": "export_csv", "_selected_action": selected})
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[0].startswith("conversation_id,bot,customer_email")
    assert "'=cmd" in text  # a spreadsheet does not run it as a formula
    assert len(text.strip().splitlines()) == 1 + 2 + 4


def test_only_staff_with_permission_see_transcripts(client, bot):
    conversation = chat_create(bot=bot)
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    customer_like = get_user_model().objects.create_user(username="eve", password="pw")
    client.force_login(customer_like)
    assert client.get(url).status_code == 302  # to the admin login
    staff = get_user_model().objects.create_user(username="sam", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    assert client.get(CHANGELIST).status_code == 403


def test_agents_may_not_configure_bots(client, agent_user, bot):
    client.force_login(agent_user)
    assert client.get(reverse("admin:conversations_bot_change", args=[bot.pk])).status_code == 403
    admin = get_user_model().objects.create_superuser(username="root", password="pw")
    client.force_login(admin)
    assert client.get(reverse("admin:conversations_bot_change", args=[bot.pk])).status_code == 200


def test_totals_columns(client, agent_user, bot):
    client.force_login(agent_user)
    chat_create(bot=bot, prompt_tokens=1200, completion_tokens=34, cost_usd=Decimal("0.0123"))
    body = client.get(CHANGELIST).content.decode()
    assert "1234" in body and "$0.0123" in body


def test_count_is_capped_so_big_filtered_lists_stay_fast(client, agent_user, bot, monkeypatch):
    from conversations.admin.search import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    client.force_login(agent_user)
    for _ in range(7):
        chat_create(bot=bot, texts=["hi"])
    body = client.get(CHANGELIST).content.decode()
    assert "5+ conversations" in body
