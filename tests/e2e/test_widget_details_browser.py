"""The widget's details in a real browser: the rating panel, the unread badge, scrolling, sizes
on a phone, times on messages and the widget's own words in another language."""

import io
import json
import re

import pytest

from tests.e2e.conftest import browser_required

pytestmark = pytest.mark.slow

browser_required()
from playwright import sync_api  # noqa: E402

REPLY = ".msg.assistant:not(.greeting):not(.typing)"

CLOSE_LATEST = """
from conversations.models import Conversation
from conversations.domain.status import conversation_close
conversation = Conversation.objects.order_by("-created_at").first()
conversation_close(conversation_id=conversation.pk, closed_by="agent")
"""

AGE_LATEST = """
from datetime import timedelta
from django.utils import timezone
from conversations.models import Conversation
conversation = Conversation.objects.order_by("-created_at").first()
conversation.messages.filter(seq__lte={seq}).update(
    created_at=timezone.now() - timedelta(days=1, minutes=5)
)
"""

AGENT_CREATE = """
from django.contrib.auth import get_user_model
from conversations.agents.access import agents_group_ensure
user = get_user_model().objects.create_user(
    "ines", "ines@example.com", "details-pass-1", first_name="Ines", is_staff=True
)
user.groups.add(agents_group_ensure())
"""


def ask(page, text: str, *, replies: int) -> None:
    message = page.get_by_role("textbox", name="Message")
    message.fill(text)
    message.press("Enter")
    sync_api.expect(page.locator(REPLY)).to_have_count(replies, timeout=20_000)
    sync_api.expect(page.get_by_role("button", name="Send")).to_be_visible(timeout=20_000)


def log_is_at_its_end(page) -> bool:
    return page.locator(".log").evaluate(
        "log => log.scrollHeight - log.scrollTop - log.clientHeight < 4"
    )


def picture(tmp_path, *, size=(800, 600)):
    from PIL import Image

    path = tmp_path / "parcel.png"
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 20)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_after_a_reload_an_image_conversation_ends_in_view_and_the_rating_keeps_it(
    server, browser, tmp_path
):
    expect = sync_api.expect
    context = browser.new_context(viewport={"width": 1280, "height": 700})
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Open chat").click()
    expect(page.get_by_role("button", name="Talk to a human")).to_be_enabled()
    for n, question in enumerate(["Hello there", "Do you ship to Canada?"], start=1):
        ask(page, question, replies=n)
    page.locator("input[type=file]").set_input_files(str(picture(tmp_path)))
    expect(page.get_by_role("img", name="Image to send")).to_be_visible()
    ask(page, "The parcel arrived damaged, see the photo", replies=3)

    # The image is fetched after the history is on screen: the log still ends at the last reply.
    page.reload()
    image = page.locator(".msg.customer img")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function(
        "() => { const img = document.querySelector('#supportbot-widget').shadowRoot"
        ".querySelector('.msg.customer img'); return img && img.complete && img.naturalWidth > 0 }"
    )
    expect(page.locator(REPLY)).to_have_count(3)
    page.wait_for_function(
        "() => { const log = document.querySelector('#supportbot-widget').shadowRoot"
        ".querySelector('.log'); return log.scrollHeight - log.scrollTop - log.clientHeight < 4 }"
    )
    assert log_is_at_its_end(page)

    # Closed: the rating panel takes room from the log, and the last reply stays in view.
    server.manage("shell", "-c", CLOSE_LATEST)
    page.reload()
    expect(page.get_by_text("How did we do?")).to_be_visible()
    page.wait_for_function(
        "() => { const img = document.querySelector('#supportbot-widget').shadowRoot"
        ".querySelector('.msg.customer img'); return img && img.complete && img.naturalWidth > 0 }"
    )
    last, log = page.locator(REPLY).last.bounding_box(), page.locator(".log").bounding_box()
    assert last["y"] + last["height"] <= log["y"] + log["height"] + 1, (last, log)
    assert log_is_at_its_end(page)

    # "Start a new conversation" is readable: the accent colour, white text.
    again = page.get_by_role("button", name="Start a new conversation")
    colours = again.evaluate(
        "b => { const s = getComputedStyle(b); return [s.backgroundColor, s.color] }"
    )
    assert colours == ["rgb(79, 70, 229)", "rgb(255, 255, 255)"], colours
    again.click()
    expect(page.get_by_role("textbox", name="Message")).to_be_enabled()
    expect(page.locator(REPLY)).to_have_count(0)
    context.close()


def test_on_a_phone_the_close_button_is_big_enough_and_typing_does_not_zoom(server, browser):
    expect = sync_api.expect
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True)
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Open chat").click()
    close = page.get_by_role("dialog").get_by_role("button", name="Close chat")
    expect(close).to_be_visible()
    box = close.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44, box
    font_size = page.get_by_role("textbox", name="Message").evaluate(
        "t => parseFloat(getComputedStyle(t).fontSize)"
    )
    assert font_size >= 16
    close.click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    context.close()


def shown_time(bubble) -> str:
    """The time under a bubble, as drawn (CSS shows the data-time attribute)."""
    return bubble.evaluate("b => getComputedStyle(b, '::after').content").strip('"')


def test_messages_show_when_they_were_sent(server, browser):
    expect = sync_api.expect
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Open chat").click()
    expect(page.get_by_role("button", name="Talk to a human")).to_be_enabled()
    ask(page, "Do you ship to Canada?", replies=1)
    expect(page.locator(".msg.customer")).to_have_attribute("data-time", "just now")
    expect(page.locator(REPLY)).to_have_attribute("data-time", "just now")
    assert shown_time(page.locator(".msg.customer")) == "just now"

    # The first exchange happened yesterday: after a reload it says so, the exact time on hover.
    server.manage("shell", "-c", AGE_LATEST.format(seq=2))
    page.reload()
    stamp = page.locator(".msg.customer").first
    expect(stamp).to_have_attribute("data-time", "yesterday")
    assert shown_time(stamp) == "yesterday"
    assert stamp.get_attribute("data-at").endswith("Z")
    exact = stamp.get_attribute("title")
    assert exact and ("AM" in exact or "PM" in exact), exact
    page.get_by_role("button", name="Talk to a human").click()
    expect(page.locator(".msg.customer").first).to_have_attribute("data-time", "yesterday")
    expect(page.locator(".msg.customer").first).to_have_text("Do you ship to Canada?")
    context.close()


def test_the_widget_speaks_the_pages_language(server, browser):
    expect = sync_api.expect
    context = browser.new_context(timezone_id="UTC")
    page = context.new_page()
    page.goto(server.url + "/?lang=de-DE")  # the demo store's page in <html lang="de-DE">
    page.get_by_role("button", name="Chat öffnen").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Mit einem Menschen sprechen")).to_be_enabled()
    expect(dialog.get_by_text("Assistent · antwortet sofort")).to_be_visible()
    message = dialog.get_by_role("textbox", name="Nachricht")
    expect(message).to_have_attribute("placeholder", "Nachricht schreiben…")
    message.fill("Hallo")
    message.press("Enter")
    expect(page.locator(".msg.customer")).to_have_attribute("data-time", "gerade eben")
    expect(page.locator(REPLY)).to_have_count(1, timeout=20_000)
    dialog.get_by_role("button", name="Mit einem Menschen sprechen").click()
    expect(page.get_by_text("Warten auf einen Mitarbeiter…")).to_be_visible()
    expect(page.locator(".note").last).to_contain_text("Sie haben nach einem Menschen gefragt.")
    dialog.get_by_role("button", name="Chat schließen").click()
    expect(dialog).to_be_hidden()
    context.close()

    # data-locale on the tag wins over the page's language; an unknown one falls back to English.
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/widget/demo?locale=fr")  # <html lang="en">, data-locale="fr"
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Ouvrir le chat")).to_be_visible()
    page.goto(server.url + "/?lang=xx")
    expect(page.get_by_role("button", name="Open chat")).to_be_visible()
    context.close()


def test_when_agents_are_away_the_status_line_says_when_they_are_back(server, browser):
    expect = sync_api.expect
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    page = context.new_page()

    def away(route):
        # The opening hours are the server's (tests/conversations/agents/test_hours.py); here
        # only what the widget makes of them.
        response = route.fetch()
        body = response.json()
        body["agents"] = {"available": False, "back_at": "2026-11-30T09:00:00+00:00"}
        route.fulfill(response=response, body=json.dumps(body))

    page.route("**/widget/*/session", away)
    page.goto(server.url + "/")
    page.get_by_role("button", name="Open chat").click()
    expect(page.get_by_role("button", name="Talk to a human")).to_be_enabled()
    page.get_by_role("button", name="Talk to a human").click()
    expect(page.get_by_text("Our team is away · back Mon 9:00 AM")).to_be_visible()
    context.close()


def test_the_unread_badge_counts_an_agents_message_once(server, browser):
    expect = sync_api.expect
    server.manage("shell", "-c", AGENT_CREATE)
    customer_context = browser.new_context()
    customer = customer_context.new_page()
    frames: list[dict] = []
    customer.on(
        "websocket",
        lambda socket: socket.on("framereceived", lambda p: frames.append(json.loads(p))),
    )
    customer.goto(server.url + "/")
    customer.get_by_role("button", name="Open chat").click()
    ask(customer, "Where is my parcel?", replies=1)
    customer.get_by_role("button", name="Talk to a human").click()
    expect(customer.get_by_text("Waiting for an agent…")).to_be_visible()

    agent_context = browser.new_context(viewport={"width": 1280, "height": 800})
    agent = agent_context.new_page()
    agent.goto(server.url + "/admin/login/?next=/agents/")
    agent.get_by_label("Username").fill("ines")
    agent.get_by_label("Password").fill("details-pass-1")
    agent.get_by_role("button", name="Log in").click()
    waiting = agent.locator("#queue tbody tr", has_text="Where is my parcel?")
    expect(waiting).to_have_count(1)
    agent.goto(server.url + waiting.get_by_role("link").first.get_attribute("href"))
    expect(agent.locator("#live.on")).to_be_attached()
    # The queue's link is "Open & take over": the page claims the conversation on opening.
    expect(agent.get_by_role("button", name="Take over")).to_be_disabled()
    expect(customer.get_by_text("Ines is here")).to_be_visible()

    customer.get_by_role("dialog").get_by_role("button", name="Close chat").click()
    reply = agent.get_by_placeholder("Take the conversation over, then write to the customer…")
    reply.fill("Hi, Ines here. Let me look.")
    reply.press("Enter")
    badge = customer.locator(".launcher .badge")
    expect(badge).to_have_text("1")

    def both_frames_arrived() -> bool:
        agent_frames = [f for f in frames if f["type"] == "agent.message"]
        messages = [f for f in frames if f["type"] == "message" and f["message"]["role"] == "agent"]
        return bool(agent_frames and messages)

    for _ in range(40):
        if both_frames_arrived():
            break
        customer.wait_for_timeout(250)
    assert both_frames_arrived(), [f["type"] for f in frames]
    expect(badge).to_have_text("1")
    # Still unread after a reload (the history brings it again): counted once.
    customer.reload()
    expect(customer.locator(".msg.agent")).to_have_count(1)
    expect(badge).to_have_text("1")
    customer.get_by_role("button", name="Open chat").click()
    expect(badge).to_be_hidden()
    expect(customer.locator(".msg.agent")).to_contain_text("Let me look.")
    # Read: a reload with the panel closed shows no badge.
    customer.get_by_role("dialog").get_by_role("button", name="Close chat").click()
    customer.reload()
    expect(customer.locator(".msg.agent")).to_have_count(1)
    customer.wait_for_timeout(500)  # the history replay is in; a wrong badge would show now
    expect(badge).to_be_hidden()
    customer_context.close()
    agent_context.close()


def test_pages_have_a_favicon_and_static_files_serve_without_warnings(server, browser):
    context = browser.new_context()
    page = context.new_page()
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(server.url + "/")
    sync_api.expect(page.get_by_role("button", name="Open chat")).to_be_visible()
    favicon = page.request.get(server.url + "/favicon.ico")
    assert favicon.status == 200 and favicon.headers["content-type"] == "image/x-icon"
    assert not missing, missing
    context.close()
    # Every static file of every test in this module went through the server by now.
    assert "synchronous iterators" not in server.log.read_text()
