"""Order actions toward a store's own HTTP API: one POST per confirmed action, with its key."""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import pytest
from django.db import connection
from django.test import override_settings

from conversations.tools.actions import cancel_order, order_action_decide
from conversations.tools.orders import identify_customer
from conversations.tools.runs import tool_context_for
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


class Store(BaseHTTPRequestHandler):
    """A store that cancels a pending order once and remembers idempotency keys."""

    order: dict = {}
    posts: list[tuple[str, str]] = []
    keys: dict[str, dict] = {}

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)

    def do_GET(self):
        if unquote(urlparse(self.path).path) == f"/orders/{Store.order['number']}":
            return self._send(200, Store.order)
        return self._send(404, {})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("Idempotency-Key", "")
        Store.posts.append((unquote(self.path), key))
        if key in Store.keys:
            return self._send(200, Store.keys[key])
        if Store.order["status"] != "pending":
            return self._send(409, {"status": Store.order["status"]})
        Store.order = {**Store.order, "status": "cancelled"}
        Store.keys[key] = Store.order
        return self._send(200, Store.order)


@pytest.fixture
def store():
    Store.order = {
        "number": "#H1",
        "status": "pending",
        "total": 10,
        "items": [{"item_id": "i1", "name": "Mug", "price": 10}],
        "customer": {"email": "lea@example.com", "zip_codes": ["75011"]},
    }
    Store.posts, Store.keys = [], {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Store)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with override_settings(ORDER_SOURCE_URL=f"http://127.0.0.1:{server.server_port}"):
        yield Store
    server.shutdown()
    server.server_close()


def test_parallel_clicks_send_one_keyed_request_and_a_second_card_is_refused(bot, store):
    conversation = factories.conversation_create(bot=bot)
    context = tool_context_for(conversation_id=conversation.pk)
    identify_customer(context=context, order_number="#H1", email_or_zip="lea@example.com")
    first = cancel_order(context=context, order_number="#H1", reason="no longer needed")
    second = cancel_order(context=context, order_number="#H1", reason="ordered by mistake")

    def click(action_id):
        try:
            order_action_decide(
                conversation_id=conversation.pk, action_id=action_id, decision="confirm"
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(first.data["action_id"],)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.posts == [("/orders/#H1/cancel", first.data["action_id"])]

    refused = order_action_decide(
        conversation_id=conversation.pk, action_id=second.data["action_id"], decision="confirm"
    )
    assert refused.status == "refused" and refused.result["status"] == "cancelled"
