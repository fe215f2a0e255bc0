"""A confirm card in the real widget: the model proposes a cancellation, the customer clicks."""

import json

import pytest

from tests.e2e.conftest import ARTIFACTS, browser_required
from tests.e2e.live_server import live_server
from tests.openai_server import Reply, ToolCallSpec, openai_server_running

pytestmark = pytest.mark.slow

browser_required()
from playwright import sync_api  # noqa: E402

PENDING_ORDER = """
import json
from conversations.models import Order
order = Order.objects.filter(status="pending").select_related("customer").order_by("pk").first()
print(json.dumps({"number": order.number, "email": order.customer.email}))
"""
ORDER_STATUS = """
from conversations.models import Order
print(Order.objects.get(number={number!r}).status)
"""


def shell_output(server, code: str) -> str:
    """The last line `manage.py shell -c` prints (it may announce its imports first)."""
    return server.manage("shell", "-c", code).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def model():
    with openai_server_running() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, model):
    with live_server(
        tmp_path_factory.mktemp("cards"),
        SUPPORTBOT_ENGINE="openai",
        OPENAI_BASE_URL=model.base_url,
        OPENAI_API_KEY="sk-test",
        SUPPORTBOT_MODERATION="0",
        SUPPORTBOT_REPLY_CACHE_SECONDS="0",
    ) as running:
        yield running


def test_the_customer_confirms_a_cancellation_on_the_card(server, model, browser):
    expect = sync_api.expect
    order = json.loads(shell_output(server, PENDING_ORDER))
    model.script(
        Reply(
            tool_calls=[
                ToolCallSpec(
                    "identify_customer",
                    {"order_number": order["number"], "email_or_zip": order["email"]},
                )
            ]
        ),
        Reply(
            tool_calls=[
                ToolCallSpec(
                    "cancel_order", {"order_number": order["number"], "reason": "no longer needed"}
                )
            ]
        ),
        Reply(text="Please confirm the cancellation on the card."),
        Reply(text="Your order is cancelled and refunded."),
    )
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Open chat").click()
    message = page.get_by_role("textbox", name="Message")
    message.fill(f"Please cancel {order['number']}, my email is {order['email']}")
    message.press("Enter")

    card = page.locator(".action-card")
    expect(card).to_contain_text(f"Cancel order {order['number']}", timeout=20_000)
    expect(page.locator(".msg.assistant").last).to_contain_text("confirm the cancellation")
    status = ORDER_STATUS.format(number=order["number"])
    assert shell_output(server, status) == "pending"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-confirm-card.png"))

    # A reload brings the card back after the history, still waiting, once.
    page.reload()
    opener = page.locator("button.launcher")
    expect(opener).to_be_visible()
    if opener.get_attribute("aria-expanded") != "true":
        opener.click()
    expect(page.locator(".msg.assistant").last).to_contain_text("confirm the cancellation")
    card = page.locator(".action-card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text(f"Cancel order {order['number']}")

    card.get_by_role("button", name="Cancel the order").click()
    expect(card.locator(".outcome")).to_have_text("Done.")
    expect(card.get_by_role("button")).to_have_count(0)
    expect(page.locator(".msg.assistant").last).to_contain_text("cancelled and refunded")
    assert shell_output(server, status) == "cancelled"
    # The model was told what the customer chose, as a note from the system.
    told = [
        m
        for r in model.chat_requests()
        for m in r.messages
        if m["role"] == "system" and "confirm card" in (m.get("content") or "")
    ]
    assert told and "done" in told[-1]["content"]
    context.close()
