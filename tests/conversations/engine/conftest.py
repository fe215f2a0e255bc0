"""Engine fixtures: the engine pointed at the local OpenAI server or offline, and fake tools.

conversations.tools is the engine's boundary to the tools; these tests replace its three
functions with small fakes that keep its contract, so the loop is tested on its own.
"""

import asyncio
import json
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async

from conversations import tools as tool_registry
from conversations.domain.messages import message_append
from conversations.domain.status import handoff_request
from conversations.models import Conversation, MessageRole, ToolRunStatus
from conversations.tools import ToolOutcome

ORDER = {
    "number": "#W2611340",
    "status": "delivered",
    "items": [
        {"name": "Water Bottle", "options": {"capacity": "750ml"}, "price": "24.50"},
        {"name": "Desk Lamp", "options": {}, "price": "89.00"},
    ],
    "total": "113.50",
    "currency": "USD",
    "payments": [{"transaction_type": "payment", "amount": "113.50", "method": "card"}],
    "fulfillments": [{"tracking_numbers": ["1Z999"], "item_ids": ["1", "2"], "carrier": "UPS"}],
}
FAQ = {
    "id": 7,
    "question": "What is your return policy?",
    "answer": "You can return unused items within 30 days for a full refund.",
    "score": 0.91,
}


def _schema(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": name.replace("_", " "),
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            },
        },
    }


DEFINITIONS = [
    _schema(
        "identify_customer",
        {"order_number": {"type": "string"}, "email_or_zip": {"type": "string"}},
    ),
    _schema("get_order", {"order_number": {"type": "string"}}),
    _schema("list_recent_orders", {}),
    _schema("search_faq", {"question": {"type": "string"}}),
    _schema("handoff_to_human", {"summary": {"type": "string"}}),
]


class FakeTools:
    """Tools with canned results; `calls` records what ran, `delay` slows a tool down."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.delay: dict[str, float] = {}
        self.faq_matches = True
        self.proven: set[str] = set()

    def definitions(self, *, bot) -> list[dict[str, Any]]:
        return DEFINITIONS

    @staticmethod
    def label(*, name: str, arguments: dict[str, Any] | None = None) -> str:
        return {"get_order": "Looking up your order…", "search_faq": "Searching the FAQ…"}.get(
            name, "Working on it…"
        )

    def _data(self, name: str, args: dict[str, Any], conversation_id: Any) -> dict[str, Any]:
        if name == "identify_customer":
            verified = args.get("email_or_zip") in ("ann@example.com", "10001")
            if verified:
                self.proven.add(args.get("order_number", ""))
            return {"verified": verified, "order_number": args.get("order_number", "")}
        if name == "get_order":
            number = args.get("order_number")
            customer = Conversation.objects.select_related("customer").get(pk=conversation_id)
            visible = customer.customer.is_verified or number in self.proven
            if number == ORDER["number"] and visible:
                return {"order": ORDER}
            return {"error": "not_found_or_not_verified", "message": "No such order."}
        if name == "list_recent_orders":
            return {
                "orders": [{"number": ORDER["number"], "status": "delivered", "total": "113.50"}]
            }
        if name == "search_faq":
            if self.faq_matches:
                return {"matches": [FAQ], "no_good_match": False}
            return {"matches": [], "no_good_match": True}
        if name == "handoff_to_human":
            handoff_request(conversation_id=conversation_id, summary=args.get("summary", ""))
            return {"status": "waiting"}
        return {"error": "unknown tool"}

    async def execute(self, *, conversation_id: Any, message_id: int, calls):
        async def run(call):
            started = time.monotonic()
            args = json.loads(call.arguments)
            self.calls.append((call.name, args))
            await asyncio.sleep(self.delay.get(call.name, 0))
            data = await database_sync_to_async(self._data)(call.name, args, conversation_id)
            sources = (
                [{"id": FAQ["id"], "title": FAQ["question"]}]
                if call.name == "search_faq" and data.get("matches")
                else []
            )
            return ToolOutcome(
                call_id=call.id,
                name=call.name,
                status=ToolRunStatus.SUCCEEDED,
                content=json.dumps(data),
                label="Done",
                data=data,
                sources=sources,
                duration_ms=int((time.monotonic() - started) * 1000),
            )

        for future in asyncio.as_completed([run(call) for call in calls]):
            yield await future


@pytest.fixture
def fake_tools(monkeypatch):
    tools = FakeTools()
    monkeypatch.setattr(tool_registry, "tool_definitions", tools.definitions)
    monkeypatch.setattr(tool_registry, "tool_label", tools.label)
    monkeypatch.setattr(tool_registry, "tool_calls_execute", tools.execute)
    return tools


@pytest.fixture
def openai_engine(settings, openai_server):
    settings.SUPPORTBOT_ENGINE = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_TIMEOUT = 5.0
    settings.OPENAI_MAX_RETRIES = 2
    settings.OPENAI_RETRY_BACKOFF = 0.01
    settings.SUPPORTBOT_MODERATION = False
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 0
    return openai_server


@pytest.fixture
def offline_engine(settings):
    settings.SUPPORTBOT_ENGINE = "offline"
    settings.SUPPORTBOT_OFFLINE_DELAY = 0
    settings.SUPPORTBOT_REPLY_CACHE_SECONDS = 0


@pytest.fixture
def say():
    """Store a customer message (as the transport would) and collect the engine's events."""
    from conversations.engine import reply_stream

    async def say(conversation, text: str = "", *, cancel=None, **fields) -> list:
        if text or fields:
            await database_sync_to_async(message_append)(
                conversation_id=conversation.pk, role=MessageRole.CUSTOMER, text=text, **fields
            )
        return [e async for e in reply_stream(conversation_id=conversation.pk, cancel=cancel)]

    return say


def types(events) -> list[str]:
    return [e.type for e in events]


def text_of(events) -> str:
    return "".join(e.text for e in events if e.type == "assistant.delta")


@pytest.fixture(autouse=True)
async def _close_thread_connections(request):
    """The ORM ran in asgiref's worker thread: close its connection so teardown can drop the DB."""
    yield
    if request.node.get_closest_marker("django_db") is not None:
        from django.db import connections

        await database_sync_to_async(connections.close_all)()
