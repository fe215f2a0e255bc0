"""Live takeover in two real browsers: a customer in the widget, an agent in the console."""

import json

import pytest

from tests.e2e.conftest import ARTIFACTS, browser_required

pytestmark = pytest.mark.slow

browser_required()
from playwright import sync_api  # noqa: E402

AGENT_CREATE = """
from django.contrib.auth import get_user_model
from conversations.agents.access import agents_group_ensure
user = get_user_model().objects.create_user(
    "dana", "dana@example.com", "takeover-pass-1", first_name="Dana", is_staff=True
)
user.groups.add(agents_group_ensure())
"""

MESSAGES_READ = """
import json
from conversations.models import Conversation
conversation = Conversation.objects.order_by("-created_at").first()
print(json.dumps({
    "status": conversation.status,
    "messages": [
        {"seq": m.seq, "role": m.role, "event": m.event, "text": m.text}
        for m in conversation.messages.order_by("seq")
    ],
}))
"""


def stored(server) -> dict:
    return json.loads(server.manage("shell", "-c", MESSAGES_READ).strip().splitlines()[-1])


def test_an_agent_takes_over_answers_live_hands_back_and_closes(server, browser):
    expect = sync_api.expect
    server.manage("shell", "-c", AGENT_CREATE)

    # The agent logs into the admin and watches the queue.
    agent_context = browser.new_context(viewport={"width": 1280, "height": 800})
    agent = agent_context.new_page()
    agent.goto(server.url + "/admin/login/?next=/agents/")
    agent.get_by_label("Username").fill("dana")
    agent.get_by_label("Password").fill("takeover-pass-1")
    agent.get_by_role("button", name="Log in").click()
    expect(agent).to_have_url(server.url + "/agents/")
    expect(agent.locator("#live.on")).to_be_attached()  # the queue socket is open
    queue = agent.locator("#queue tbody tr")
    expect(queue).to_have_count(1)
    expect(queue).to_have_text("Nobody is waiting.")

    # The customer asks the bot, then for a human.
    customer_context = browser.new_context(viewport={"width": 1280, "height": 800})
    customer = customer_context.new_page()
    customer.goto(server.url + "/")
    customer.get_by_role("button", name="Open chat").click()
    message = customer.get_by_role("textbox", name="Message")
    message.fill("Where is my order?")
    message.press("Enter")
    expect(customer.locator(".msg.assistant:not(.greeting):not(.typing)")).to_have_count(1)
    expect(customer.get_by_role("button", name="Send")).to_be_visible()
    customer.get_by_role("button", name="Talk to a human").click()
    expect(customer.get_by_text("Waiting for an agent…")).to_be_visible()

    # The queue shows it without a reload; the agent opens it in a tab of its own and takes over.
    waiting = agent.locator("#queue tbody tr", has_text="Where is my order?")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("waiting")
    queue_page, agent = agent, agent_context.new_page()
    link = waiting.get_by_role("link", name="Open & take over").get_attribute("href")
    agent.goto(server.url + link)
    expect(agent.locator("#live.on")).to_be_attached()
    expect(agent.locator(".bubble.from-customer")).to_contain_text("Where is my order?")
    # The bot's turn that only looked the order tool up has no text: no empty bubble for it.
    expect(agent.locator(".bubble.from-assistant")).to_have_count(1)
    expect(agent.locator(".bubble.from-assistant")).to_contain_text("order number")
    # "Open & take over" took it over on opening; a reload does not claim again.
    expect(agent.locator("#status")).to_have_text("Agent answering (Dana)")
    expect(agent.get_by_role("button", name="Take over")).to_be_disabled()
    expect(agent.locator("#takeover-summary")).to_contain_text("Where is my order?")
    assert "take=1" not in agent.url
    expect(customer.get_by_text("Dana is here")).to_be_visible()
    expect(customer.locator(".note").last).to_contain_text("Dana joined the conversation.")
    expect(waiting).to_contain_text("with Dana")
    claimed_at = max(m["seq"] for m in stored(server)["messages"])

    # The agent writes; the widget shows it as the agent's, live.
    reply = agent.get_by_placeholder("Take the conversation over, then write to the customer…")
    reply.fill("Hi, I'm Dana. Which order number is it?")
    reply.press("Enter")
    from_agent = customer.locator(".msg.agent")
    expect(from_agent).to_have_count(1)
    expect(from_agent).to_contain_text("Which order number is it?")
    expect(from_agent.locator(".who")).to_have_text("Dana")
    expect(agent.locator(".bubble.from-agent")).to_contain_text("Which order number is it?")

    # The customer answers; the agent sees it live; the bot keeps quiet.
    message.fill("It is order 1001, thanks")
    message.press("Enter")
    expect(agent.locator(".bubble.from-customer").last).to_contain_text("It is order 1001")
    expect(agent.locator("#typing")).to_be_hidden()  # the message ends "the customer is typing"
    expect(customer.locator(".msg.customer").last).not_to_have_class("pending")
    customer.wait_for_timeout(1500)  # room for a bot reply that should not come
    assert customer.locator(".msg.assistant:not(.greeting):not(.typing)").count() == 1
    after_claim = [m for m in stored(server)["messages"] if m["seq"] > claimed_at]
    assert [m["role"] for m in after_claim] == ["agent", "customer"], after_claim
    ARTIFACTS.mkdir(exist_ok=True)
    agent.screenshot(path=str(ARTIFACTS / "takeover-agent.png"))
    customer.screenshot(path=str(ARTIFACTS / "takeover-customer.png"))

    # Hand back to the bot: the widget says so.
    agent.get_by_role("button", name="Hand back to the bot").click()
    expect(agent.locator("#status")).to_have_text("Bot answering")
    expect(customer.get_by_text("Assistant · replies instantly")).to_be_visible()
    expect(customer.locator(".note").last).to_contain_text("The assistant is back.")
    expect(customer.get_by_role("button", name="Talk to a human")).to_be_enabled()

    # Close: the widget asks for a rating.
    agent.once("dialog", lambda dialog: dialog.accept())
    agent.get_by_role("button", name="Close").click()
    expect(agent.locator("#status")).to_have_text("Closed")
    expect(customer.get_by_text("How did we do?")).to_be_visible()
    expect(customer.get_by_text("Conversation closed")).to_be_visible()
    expect(message).to_be_disabled()
    expect(queue_page.locator("#queue tbody tr")).to_have_text("Nobody is waiting.")
    agent.screenshot(path=str(ARTIFACTS / "takeover-agent-closed.png"))
    customer.screenshot(path=str(ARTIFACTS / "takeover-customer-closed.png"))
    assert stored(server)["status"] == "closed"
    customer_context.close()
    agent_context.close()
