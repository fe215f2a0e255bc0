"""Order actions on the embedded default: the offline engine proposes, the customer clicks."""

import json

import pytest

from tests.e2e.conftest import ARTIFACTS, browser_required

pytestmark = pytest.mark.slow

browser_required()
from playwright import sync_api  # noqa: E402

ORDERS = """
import json
from conversations.models import Order
def first(status):
    order = Order.objects.filter(status=status).select_related("customer").order_by("pk").first()
    return {"number": order.number, "email": order.customer.email}
print(json.dumps({"pending": first("pending"), "delivered": first("delivered")}))
"""
STATUS = """
from conversations.models import Order
print(Order.objects.get(number={number!r}).status)
"""


def shell_output(server, code: str) -> str:
    return server.manage("shell", "-c", code).strip().splitlines()[-1]


def test_a_newcomer_cancels_and_returns_orders_without_a_model(server, browser):
    """No OpenAI key: the offline engine still reaches the confirm cards, as the demo says."""
    expect = sync_api.expect
    orders = json.loads(shell_output(server, ORDERS))
    pending, delivered = orders["pending"], orders["delivered"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/")
    # The demo page suggests both, with the email that proves each order.
    expect(page.get_by_text(f"cancel order {pending['number']}")).to_be_visible()
    page.get_by_role("button", name="Open chat").click()
    message = page.get_by_role("textbox", name="Message")
    replies = page.locator(".msg.assistant:not(.greeting):not(.typing)")

    # Asked first, proven after: the card comes once the email matches.
    message.fill(f"I want to cancel order {pending['number']}")
    message.press("Enter")
    expect(replies.last).to_contain_text("email address or ZIP code", timeout=20_000)
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    message.fill(pending["email"])
    message.press("Enter")
    card = page.locator(".action-card")
    expect(card).to_contain_text(f"Cancel order {pending['number']}", timeout=20_000)
    expect(replies.last).to_contain_text('choose "Cancel the order"')
    status = STATUS.format(number=pending["number"])
    assert shell_output(server, status) == "pending"  # nothing changes before the click
    card.get_by_role("button", name="Cancel the order").click()
    expect(card.locator(".outcome")).to_have_text("Done.")
    expect(replies.last).to_contain_text(f"Done: order {pending['number']} is cancelled.")
    assert shell_output(server, status) == "cancelled"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-offline-cancel.png"))

    # A return in one message; "Keep it as is" leaves the order alone.
    message.fill(
        f"I'd like to return order {delivered['number']}, my email is {delivered['email']}"
    )
    message.press("Enter")
    card = page.locator(".action-card").last
    expect(card).to_contain_text(f"from order {delivered['number']}", timeout=20_000)
    card.get_by_role("button", name="Keep it as is").click()
    expect(replies.last).to_contain_text(f"I've left order {delivered['number']} as it is")
    assert shell_output(server, STATUS.format(number=delivered["number"])) == "delivered"
    context.close()
