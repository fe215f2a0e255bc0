"""Agents see only the bots their teams handle (issue 11, hole 10): in the queue, the console,
the admin and the agents' websockets. Superusers see every bot."""

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from conversations.agents.access import agents_group_ensure
from conversations.domain.messages import message_append
from conversations.domain.status import handoff_request
from conversations.models import MessageRole
from conversations.transports.routing import websocket_urlpatterns
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
application = URLRouter(websocket_urlpatterns)


@pytest.fixture
def teams(db):
    """Two bots: "ours" handled by the agents group, "theirs" by another team only."""
    ours = factories.bot_create(name="Our Store")
    theirs = factories.bot_create(name="Their Store")
    other_team = Group.objects.create(name="their team")
    if hasattr(theirs, "agent_groups"):  # (absent before teams existed: everyone saw all)
        theirs.agent_groups.set([other_team])
    conversations = {}
    for name, bot in (("ours", ours), ("theirs", theirs)):
        customer = factories.customer_create(bot=bot, email=f"{name}@example.com")
        conversation = factories.conversation_create(bot=bot, customer=customer)
        message_append(
            conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=f"help {name}"
        )
        handoff_request(conversation_id=conversation.pk, summary="")
        conversations[name] = conversation
    return conversations


@pytest.fixture
def agent(db):
    user = get_user_model().objects.create_user(username="agent", password="pw", is_staff=True)
    user.groups.add(agents_group_ensure())
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_console_shows_only_the_agents_bots(teams, agent):
    client = logged_in(agent)
    queue = client.get("/agents/").content.decode()
    assert "help ours" in queue and "help theirs" not in queue
    assert client.get(f"/agents/conversations/{teams['ours'].pk}/").status_code == 200
    assert client.get(f"/agents/conversations/{teams['theirs'].pk}/").status_code == 404
    for part in ("customer", "saved-replies"):
        assert client.get(f"/agents/conversations/{teams['ours'].pk}/{part}/").status_code == 200
        assert client.get(f"/agents/conversations/{teams['theirs'].pk}/{part}/").status_code == 404
    dashboard = client.get("/agents/dashboard/").content.decode()
    assert "Our Store" in dashboard and "Their Store" not in dashboard


def test_the_admin_shows_only_the_agents_bots(teams, agent):
    client = logged_in(agent)
    listing = client.get("/admin/conversations/conversation/").content.decode()
    assert "ours@example.com" in listing and "theirs@example.com" not in listing
    ours = client.get(f"/admin/conversations/conversation/{teams['ours'].pk}/change/")
    assert ours.status_code == 200
    theirs = client.get(f"/admin/conversations/conversation/{teams['theirs'].pk}/change/")
    assert theirs.status_code in (302, 404)
    assert "help theirs" not in theirs.content.decode()
    customers = client.get("/admin/conversations/customer/").content.decode()
    assert "ours@example.com" in customers and "theirs@example.com" not in customers


def test_a_superuser_sees_every_bot(teams):
    boss = get_user_model().objects.create_superuser(username="boss", password="pw")
    client = logged_in(boss)
    queue = client.get("/agents/").content.decode()
    assert "help ours" in queue and "help theirs" in queue
    assert client.get(f"/agents/conversations/{teams['theirs'].pk}/").status_code == 200


def test_the_bots_team_is_managed_in_the_admin(teams):
    boss = get_user_model().objects.create_superuser(username="boss", password="pw")
    page = logged_in(boss).get(f"/admin/conversations/bot/{teams['theirs'].bot_id}/change/")
    assert 'name="agent_groups"' in page.content.decode()


@sync_to_async
def _cookie(user) -> str:
    return logged_in(user).cookies["sessionid"].value


async def _connect(path, user):
    headers = [
        (b"origin", b"http://testserver"),
        (b"cookie", f"sessionid={await _cookie(user)}".encode()),
    ]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_the_agents_websockets_show_only_their_bots(teams, agent):
    queue, connected, _ = await _connect("/ws/agent/queue/", agent)
    assert connected
    snapshot = await queue.receive_json_from(timeout=3)
    assert [c["id"] for c in snapshot["conversations"]] == [str(teams["ours"].pk)]
    await queue.disconnect()

    ours, connected, _ = await _connect(f"/ws/agent/conversations/{teams['ours'].pk}/", agent)
    assert connected
    await ours.disconnect()
    _, connected, code = await _connect(f"/ws/agent/conversations/{teams['theirs'].pk}/", agent)
    assert not connected and code == 4404
