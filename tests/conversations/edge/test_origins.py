"""One origin rule for the widget, the customer's socket and the API."""

import json

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from conversations.edge.origins import origin_allowed, origin_normalize
from conversations.models import Bot
from conversations.transports.routing import websocket_urlpatterns

CONFIGURED = "https://Shop.example.com/"
BROWSER = "https://shop.example.com"


def test_the_normalising_rule():
    assert (
        origin_normalize(" HTTPS://Shop.Example.com:8443/path ") == "https://shop.example.com:8443"
    )
    assert origin_normalize("*") == "*"
    assert origin_normalize("ftp://x") == origin_normalize("null") == ""
    assert origin_allowed(origin=BROWSER, allowed=[CONFIGURED])
    assert origin_allowed(origin="https://anything.example", allowed=["*"])
    assert not origin_allowed(origin="*", allowed=["*"])
    assert not origin_allowed(origin="https://evil.example", allowed=[CONFIGURED])
    assert origin_allowed(origin="http://Support.example", allowed=[], host="support.example")
    assert not origin_allowed(origin="", allowed=["*"], host="support.example")


@pytest.mark.django_db(transaction=True)
async def test_widget_socket_and_api_agree_on_a_configured_origin(async_client):
    bot = await Bot.objects.acreate(name="Shop", slug="shop", allowed_origins=[CONFIGURED])
    session = await async_client.post(
        f"/widget/{bot.public_key}/session",
        data=json.dumps({"visitor_id": "visitor_0123456789abcdef"}),
        content_type="text/plain",
        headers={"Origin": BROWSER},
    )
    assert session.status_code == 201 and session["Access-Control-Allow-Origin"] == BROWSER
    conversation_id = session.json()["conversation_id"]
    socket = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns),
        f"/ws/chat/{conversation_id}/",
        headers=[(b"origin", BROWSER.encode()), (b"host", b"supportbot.example")],
    )
    await socket.connect()
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=5)) == {"type": "pong"}
    await socket.disconnect()
    preflight = await async_client.options(
        "/api/v1/conversations",
        headers={"Origin": BROWSER, "Access-Control-Request-Method": "POST"},
    )
    assert preflight["Access-Control-Allow-Origin"] == BROWSER
