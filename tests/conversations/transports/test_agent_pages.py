from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations.domain.status import handoff_request
from tests.agents_fixtures import chat_create


def test_dashboard_draws_charts_for_staff_only(client, agent_user, bot):
    for n in range(5):
        chat_create(bot=bot, csat_rating=(n % 5) + 1, topic="shipping", resolved_by_bot=True)
    url = reverse("agents:dashboard")
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(get_user_model().objects.create_user(username="eve", password="pw"))
    assert client.get(url).status_code == 302
    client.force_login(agent_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url + "?days=7")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("<svg") == 8 and "Top topics" in body and "shipping" in body
    assert "Conversations per day" in body and "Median time to first token" in body
    assert len(queries) <= 12


def test_queue_and_conversation_pages(client, agent_user, bot):
    conversation = chat_create(bot=bot, texts=["please, a human"])
    handoff_request(conversation_id=conversation.pk)
    client.force_login(agent_user)
    body = client.get(reverse("agents:queue")).content.decode()
    assert "please, a human" in body and "/ws/agent/queue/" in body
    response = client.get(reverse("agents:conversation", args=[conversation.pk]))
    body = response.content.decode()
    assert f"/ws/agent/conversations/{conversation.pk}/" in body and "Take over" in body


def test_staff_without_review_permission_is_refused(client, bot):
    staff = get_user_model().objects.create_user(username="sam", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("agents:queue")).status_code == 403


def test_the_conversation_page_shows_the_customer_panel_and_open_and_take_over(
    client, agent_user, bot
):
    from django.utils import timezone

    from tests import factories

    sam = factories.store_customer_create(bot=bot)
    order = factories.order_create(bot=bot, customer=sam, tracking=["1Z777"])
    customer = factories.customer_create(
        bot=bot, email=sam.email, name="Sam", verified_at=timezone.now()
    )
    conversation = factories.conversation_create(bot=bot, customer=customer)
    handoff_request(conversation_id=conversation.pk)
    client.force_login(agent_user)

    queue = client.get(reverse("agents:queue")).content.decode()
    taking = reverse("agents:conversation", args=[conversation.pk]) + "?take=1"
    assert f'href="{taking}">Open &amp; take over' in queue

    page = client.get(taking).content.decode()
    assert 'data-take-over="1"' in page
    assert "Verified" in page and order.number in page and "1Z777" in page
    assert "supportbot/markdown.js" in page
    assert (
        "data-take-over"
        not in client.get(reverse("agents:conversation", args=[conversation.pk])).content.decode()
    )

    with CaptureQueriesContext(connection) as queries:
        fragment = client.get(reverse("agents:customer-panel", args=[conversation.pk]))
    assert fragment.status_code == 200 and "1Z777" in fragment.content.decode()
    assert len(queries) <= 16


def test_saved_replies_endpoint_needs_a_replying_agent(client, agent_user, bot):
    from django.contrib.auth.models import Permission

    from conversations.models import SavedReply
    from tests import factories

    conversation = factories.conversation_create(bot=bot)
    SavedReply.objects.create(title="Hello", shortcut="hello", text="Hi {customer_name}!")
    url = reverse("agents:saved-replies", args=[conversation.pk])
    assert client.get(url).status_code == 302
    reviewer = get_user_model().objects.create_user(username="rita", is_staff=True)
    reviewer.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(reviewer)
    assert client.get(url).status_code == 403
    client.force_login(agent_user)
    assert client.get(url + "?q=hel").json() == {
        "replies": [{"shortcut": "hello", "title": "Hello", "text": "Hi there!"}]
    }
