"""The agent console in a real browser beside a customer in the widget: images and Markdown,
the customer panel, a copilot draft, a saved reply, and "<agent> is typing" in the widget."""

import io
import re

import pytest

from tests.e2e.conftest import ARTIFACTS, browser_required

pytestmark = pytest.mark.slow

browser_required()
from playwright import sync_api  # noqa: E402

SETUP = """
from django.contrib.auth import get_user_model
from conversations.agents.access import agents_group_ensure
from conversations.models import AgentProfile, SavedReply
user = get_user_model().objects.create_user(
    "dana", "dana@example.com", "console-pass-1", first_name="Dana", is_staff=True
)
user.groups.add(agents_group_ensure())
AgentProfile.objects.create(user=user, display_name="Dana from Support")
SavedReply.objects.create(
    title="Tracking details",
    shortcut="tracking",
    text="Hi {customer_name}, order **{order_number}** is on its way. {agent_name}",
)
"""


BACKGROUND_QUEUE = """
window.notifications = [];
window.Notification = class {
  constructor(title, options) { window.notifications.push([title, options.body]); }
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
document.hasFocus = () => false;
"""


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_console_shows_the_customer_and_helps_the_agent_answer(server, browser):
    expect = sync_api.expect
    server.manage("shell", "-c", SETUP)

    agent_context = browser.new_context(viewport={"width": 1400, "height": 900})
    queue = agent_context.new_page()
    # The queue page sits in the background: unfocused, notifications allowed (recorded here).
    queue.add_init_script(BACKGROUND_QUEUE)
    queue.goto(server.url + "/admin/login/?next=/agents/")
    queue.get_by_label("Username").fill("dana")
    queue.get_by_label("Password").fill("console-pass-1")
    queue.get_by_role("button", name="Log in").click()
    expect(queue.locator("#live.on")).to_be_attached()

    # The customer sends a photo, proves an order, and asks for a human.
    customer_context = browser.new_context(viewport={"width": 1280, "height": 800})
    customer = customer_context.new_page()
    customer.goto(server.url + "/")
    customer.get_by_role("button", name="Open chat").click()
    message = customer.get_by_role("textbox", name="Message")
    expect(message).to_be_enabled()
    customer.locator("#supportbot-widget input[type=file]").set_input_files(
        {"name": "box.png", "mimeType": "image/png", "buffer": _png()}
    )
    expect(customer.locator(".chip img")).to_have_count(1)
    message.fill("Look")
    message.press("Enter")
    replies = customer.locator(".msg.assistant:not(.greeting):not(.typing)")
    expect(replies).to_have_count(1)
    message.fill("Where is my order #D1001? My email is demo@example.com")
    message.press("Enter")
    expect(replies).to_have_count(2)
    expect(replies.last).to_contain_text("1Z9651421847")
    customer.get_by_role("button", name="Talk to a human").click()
    expect(customer.get_by_text("Waiting for an agent…")).to_be_visible()

    # Open & take over: the console claims it and says what happened so far.
    waiting = queue.locator("#queue tbody tr", has_text="#D1001")
    expect(waiting).to_have_count(1)
    queue.wait_for_function("() => window.notifications.length === 1")
    title, body = queue.evaluate("window.notifications[0]")
    assert title == "A customer wants a human" and "#D1001" in body
    assert queue.locator("#queue").get_attribute("data-alerts") == "1"  # and one tone
    agent = agent_context.new_page()
    agent.goto(
        server.url + waiting.get_by_role("link", name="Open & take over").get_attribute("href")
    )
    expect(agent.locator("#status")).to_have_text("Agent answering (Dana from Support)")
    expect(agent.locator("#takeover-summary")).to_be_visible()
    expect(customer.get_by_text("Dana from Support is here")).to_be_visible()

    # The customer's photo as a thumbnail that opens in full; the bot's Markdown rendered.
    thumb = agent.locator(".bubble.from-customer img.thumb")
    expect(thumb).to_have_count(1)
    agent.wait_for_function(
        "() => document.querySelector('.bubble.from-customer img.thumb').naturalWidth === 64"
    )
    assert thumb.locator("xpath=..").get_attribute("target") == "_blank"
    order_reply = agent.locator(".bubble.from-assistant", has_text="1Z9651421847")
    expect(order_reply.locator("li")).to_have_count(2)  # "- item" lines became a list
    expect(order_reply).not_to_contain_text("- Organic")

    # The customer panel: the proven order with status and tracking, and nobody else's.
    panel = agent.locator("#customer-panel")
    expect(panel).to_contain_text("Not verified")
    expect(panel.locator(".order")).to_have_count(1)
    expect(panel.locator(".order")).to_contain_text("#D1001")
    expect(panel.locator(".order")).to_contain_text("delivered")
    expect(panel.locator(".order")).to_contain_text("1Z9651421847")
    expect(panel).not_to_contain_text("#D1002")  # the same store customer, never proven here
    expect(panel.locator(".tool-run")).not_to_have_count(0)

    # The copilot drafts into the reply box; nothing reaches the customer until Dana sends.
    box = agent.get_by_role("textbox", name="Reply")
    agent.get_by_role("button", name="Draft a reply").click()
    expect(box).to_have_value(re.compile(r"Order #D1001 is delivered"))
    expect(agent.get_by_role("button", name="Draft a reply")).to_be_enabled()
    assert customer.locator(".msg.agent").count() == 0

    # Typing: the customer sees "Dana from Support is typing".
    box.fill("")
    box.press_sequentially("Let me check", delay=20)
    expect(customer.locator(".typing-label")).to_have_text("Dana from Support is typing")

    # A saved reply, found with "/", placeholders filled, sent as Markdown.
    box.fill("")
    box.press_sequentially("/track", delay=20)
    expect(agent.locator("#saved-replies li")).to_have_count(1)
    expect(agent.locator("#saved-replies")).to_contain_text("/tracking")
    box.press("Enter")
    expect(box).to_have_value("Hi there, order **#D1001** is on its way. Dana from Support")
    box.press("Enter")
    sent = agent.locator(".bubble.from-agent")
    expect(sent.locator("strong")).to_have_text("#D1001")
    from_agent = customer.locator(".msg.agent")
    expect(from_agent.locator("strong")).to_have_text("#D1001")
    expect(from_agent.locator(".who")).to_have_text("Dana from Support")
    expect(customer.locator(".typing-label")).to_have_count(0)

    ARTIFACTS.mkdir(exist_ok=True)
    agent.screenshot(path=str(ARTIFACTS / "console-agent.png"), full_page=True)
    customer.screenshot(path=str(ARTIFACTS / "console-customer.png"))
    customer_context.close()
    agent_context.close()
