"""Order data from a store's own HTTP API, served here by a local HTTP server."""

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from django.test import override_settings

from conversations.domain.messages import message_append
from conversations.models import MessageRole, ToolRunStatus
from conversations.tools.connectors import HttpOrderSource, OrderSourceError
from conversations.tools.orders import get_order, identify_customer, list_recent_orders
from conversations.tools.runs import tool_context_for, tool_run_execute, tool_run_prepare

TOKEN = "Bearer store-api-secret"
ORDER = {
    "number": "#A1001",
    "status": "processed",
    "placed_at": "2026-11-01T10:00:00+00:00",
    "total": 59.9,
    "currency": "EUR",
    "items": [{"item_id": "i1", "name": "Rain Jacket", "options": {"size": "M"}, "price": 59.9}],
    "payments": [{"transaction_type": "payment", "amount": 59.9, "method": "paypal"}],
    "fulfillments": [{"tracking_numbers": ["JD0140"], "item_ids": ["i1"], "carrier": "DHL"}],
    "customer": {"email": "lea@example.com", "external_id": "c-7", "zip_codes": ["75011"]},
}


class StoreApi(BaseHTTPRequestHandler):
    requests: list[str] = []
    delay = 0.0

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
        time.sleep(self.delay)
        StoreApi.requests.append(self.path)
        if self.headers.get("Authorization") != TOKEN:
            return self._send(401, {"error": "unauthorized"})
        url = urlparse(self.path)
        if url.path == "/api/orders":
            query = parse_qs(url.query)
            match = query.get("email") == ["lea@example.com"] or query.get("external_id") == ["c-7"]
            return self._send(200, {"orders": [ORDER] if match else []})
        if unquote(url.path) == "/api/orders/#A1001":
            return self._send(200, ORDER)
        return self._send(404, {"error": "not found"})


@pytest.fixture
def store_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StoreApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StoreApi.requests = []
    StoreApi.delay = 0.0
    url = f"http://127.0.0.1:{server.server_port}/api"
    with override_settings(
        ORDER_SOURCE_URL=url, ORDER_SOURCE_AUTH_HEADER=f"Authorization: {TOKEN}"
    ):
        yield url
    server.shutdown()
    server.server_close()


def test_the_http_source_reads_orders_with_its_auth_header(store_api):
    source = HttpOrderSource(url=store_api, auth_header=f"Authorization: {TOKEN}")
    order = source.find_order(bot_id=1, number="a1001")
    assert order.number == "#A1001"
    assert order.total == "59.90"
    assert order.fulfillments[0]["tracking_numbers"] == ["JD0140"]
    assert source.find_order(bot_id=1, number="#A9999") is None
    assert [o.number for o in source.orders_for_customer(bot_id=1, external_id="c-7")] == ["#A1001"]


def test_a_wrong_token_or_a_slow_api_is_an_error_not_an_answer(store_api):
    with pytest.raises(OrderSourceError):
        HttpOrderSource(url=store_api, auth_header="Authorization: Bearer nope").find_order(
            bot_id=1, number="#A1001"
        )
    StoreApi.delay = 0.5
    with pytest.raises(OrderSourceError):
        HttpOrderSource(
            url=store_api, auth_header=f"Authorization: {TOKEN}", timeout=0.1
        ).find_order(bot_id=1, number="#A1001")


@pytest.mark.django_db
def test_the_tools_apply_the_same_checks_to_orders_from_the_api(store_api, bot, conversation):
    context = tool_context_for(conversation_id=conversation.pk)
    assert get_order(context=context, order_number="#A1001").data["error"] == (
        "not_found_or_not_verified"
    )
    assert (
        identify_customer(
            context=context, order_number="#A1001", email_or_zip="wrong@example.com"
        ).data["verified"]
        is False
    )
    assert (
        identify_customer(context=context, order_number="#A1001", email_or_zip="75011").data[
            "verified"
        ]
        is True
    )
    order = get_order(context=context, order_number="#A1001").data["order"]
    assert order["fulfillments"][0]["carrier"] == "DHL"
    assert "customer" not in order
    assert list_recent_orders(context=context).data["orders"][0]["number"] == "#A1001"


@pytest.mark.django_db
def test_an_api_outage_fails_the_run_with_a_readable_error(bot, conversation):
    message, _ = message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT)
    run = tool_run_prepare(
        conversation_id=conversation.pk,
        message_id=message.pk,
        call_id="c1",
        name="get_order",
        arguments_json='{"order_number": "#A1001"}',
    )
    with override_settings(ORDER_SOURCE_URL="http://127.0.0.1:9/api", ORDER_SOURCE_TIMEOUT=0.5):
        assert tool_run_execute(run_id=run.run_id) == ToolRunStatus.FAILED
