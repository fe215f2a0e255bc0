"""The admin transcript in a real browser: the bot's and agents' Markdown shown as the customer
saw it (the shared safe renderer), the customer's words as typed, nothing of it run as markup."""

import pytest

from tests.e2e.conftest import browser_required

pytestmark = pytest.mark.slow

browser_required()
from playwright import sync_api  # noqa: E402

SETUP = """
from django.contrib.auth import get_user_model
from conversations.domain.messages import message_append
from conversations.models import Bot, MessageRole
from tests import factories
get_user_model().objects.create_superuser("root", "root@example.com", "transcript-pass-1")
bot = Bot.objects.get(slug="demo")
conversation = factories.conversation_create(bot=bot)
message_append(conversation_id=conversation.pk, role=MessageRole.CUSTOMER,
               text="Is **this** bold? <script>window.hacked = 1</script>")
message_append(conversation_id=conversation.pk, role=MessageRole.ASSISTANT,
               text="Returns take **30 days**. See [our policy](https://shop.example/returns).\\n\\n"
                    "- one\\n- two <img src=x onerror='window.hacked=2'>")
print(conversation.pk)
"""


def test_the_transcript_renders_the_bots_markdown_and_nothing_runs(server, browser):
    expect = sync_api.expect
    conversation_id = server.manage("shell", "-c", SETUP).strip().splitlines()[-1]
    page = browser.new_context().new_page()
    page.goto(server.url + f"/admin/conversations/conversation/{conversation_id}/change/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("transcript-pass-1")
    page.get_by_role("button", name="Log in").click()

    bot = page.locator("#transcript .from-assistant .text")
    expect(bot.locator("strong")).to_have_text("30 days")
    link = bot.get_by_role("link", name="our policy")
    expect(link).to_have_attribute("href", "https://shop.example/returns")
    expect(bot.locator("li")).to_have_count(2)
    expect(bot.locator("img")).to_have_count(0)

    customer = page.locator("#transcript .from-customer .text")
    expect(customer).to_have_text("Is **this** bold? <script>window.hacked = 1</script>")
    expect(customer.locator("strong")).to_have_count(0)
    assert page.evaluate("window.hacked") is None


ROOT_LOGIN = """
from django.contrib.auth import get_user_model
if not get_user_model().objects.filter(username="root").exists():
    get_user_model().objects.create_superuser("root", "root@example.com", "transcript-pass-1")
"""


def test_on_a_laptop_the_conversation_list_shows_each_status(server, browser):
    expect = sync_api.expect
    server.manage("shell", "-c", ROOT_LOGIN)
    # Rows as make run's demo has them: titles, customers' emails, topics, costs.
    server.manage("seed_demo", "--conversations", "20")
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(server.url + "/admin/conversations/conversation/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("transcript-pass-1")
    page.get_by_role("button", name="Log in").click()
    status = page.locator("#result_list thead th.column-status")
    expect(status).to_be_visible()
    results = page.locator(".results").bounding_box()
    header = status.bounding_box()
    # Not scrolled out of the list's box (the app list beside it used to take that room).
    assert header["x"] + header["width"] <= results["x"] + results["width"], (header, results)
