"""The Unanswered view: no-good-match searches and hand-offs, grouped, counted, linked."""

from urllib.parse import parse_qs, urlparse

from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.domain.messages import message_append
from conversations.domain.status import handoff_request
from conversations.knowledge.unanswered import unanswered_groups
from conversations.models import FaqEntry, MessageRole, ReplyDraft, ToolRun, ToolRunStatus
from tests import factories


def searched(bot, text, *, found=False):
    """A conversation where the customer asked `text` and the knowledge tool ran on it."""
    conversation = factories.conversation_create(bot=bot)
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text)
    turn, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    ToolRun.objects.create(
        conversation=conversation,
        message=turn,
        call_id="call_1",
        tool="search_faq",
        arguments={"question": text},
        status=ToolRunStatus.SUCCEEDED,
        result={"data": {"matches": [], "no_good_match": not found}, "sources": []},
    )
    return conversation


def test_questions_are_grouped_by_similarity_and_counted(bot):
    searched(bot, "Do you sell spaceships?")
    searched(bot, "do you sell spaceships to Mars")
    searched(bot, "Do you sell spaceships to Mars?")
    searched(bot, "Where is my parcel?", found=True)
    handed = factories.conversation_create(bot=bot)
    message_append(
        conversation_id=handed.pk, role=MessageRole.CUSTOMER, text="Can I pay in bitcoin?"
    )
    message_append(conversation_id=handed.pk, role=MessageRole.CUSTOMER, text="a human please")
    handoff_request(conversation_id=handed.pk, summary="")
    other_bot = factories.bot_create()
    searched(other_bot, "Do you sell spaceships?")

    groups = unanswered_groups(bot_ids=[bot.pk])
    assert [(g.question, g.count) for g in groups] == [
        ("Do you sell spaceships?", 3),
        ("Can I pay in bitcoin?", 1),
    ]
    assert groups[0].examples == [
        "Do you sell spaceships?",
        "do you sell spaceships to Mars",
        "Do you sell spaceships to Mars?",
    ]
    assert dict(groups[1].reasons) == {"handed off": 1}


def test_a_copilot_drafts_search_is_no_unanswered_question(bot):
    conversation = factories.conversation_create(bot=bot)
    message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text="Spaceships?")
    draft = ReplyDraft.objects.create(conversation=conversation, tools=["search_faq"])
    ToolRun.objects.create(
        conversation=conversation,
        draft=draft,
        call_id="call_1",
        tool="search_faq",
        arguments={"question": "Do you sell spaceships?"},
        status=ToolRunStatus.SUCCEEDED,
        result={"data": {"matches": [], "no_good_match": True}, "sources": []},
    )
    assert unanswered_groups(bot_ids=[bot.pk]) == []


def test_a_question_the_faq_now_answers_drops_off(bot):
    factories.faq_load(bot=bot)
    searched(bot, "Do you sell spaceships?")
    assert unanswered_groups(bot_ids=[bot.pk])
    FaqEntry.objects.create(
        bot=bot, question="Do you sell spaceships?", answer="No, only shoes and kettles."
    )
    assert unanswered_groups(bot_ids=[bot.pk]) == []


def test_the_page_lists_groups_with_a_write_link_in_a_fixed_number_of_queries(
    client, bot, agent_user
):
    client.force_login(agent_user)
    for n in range(3):
        searched(bot, f"Do you sell spaceships number {n}?")
    client.get("/agents/unanswered/")
    with CaptureQueriesContext(connection) as few:
        page = client.get("/agents/unanswered/")
    for n in range(6):
        searched(bot, f"Can I pay in bitcoin {n}?")
    with CaptureQueriesContext(connection) as more:
        client.get("/agents/unanswered/")
    assert len(more.captured_queries) <= len(few.captured_queries) + 4  # per group, not per row
    html = page.content.decode()
    assert "Do you sell spaceships number 0?" in html and "Write an answer" not in html
    assert "ask an admin" in html  # agents read; writing FAQ entries is an admin's permission

    admin = factories_admin(client)
    html = admin.get("/agents/unanswered/").content.decode()
    assert "Write an answer" in html
    link = html.split('class="button" href="')[1].split('"')[0].replace("&amp;", "&")
    query = parse_qs(urlparse(link).query)
    assert query["bot"] == [str(bot.pk)] and query["question"] == ["Can I pay in bitcoin 0?"]

    form = admin.get(link).content.decode()
    assert "Can I pay in bitcoin 0?" in form
    assert "Can I pay in bitcoin 1?" in form  # the other phrasings, prefilled


def factories_admin(client):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_customers_and_other_staff_cannot_see_it(client, bot, django_user_model):
    assert client.get("/agents/unanswered/").status_code == 302  # to the login
    staff = django_user_model.objects.create_user("eve", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/agents/unanswered/").status_code == 403
