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
