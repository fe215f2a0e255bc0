"""The widget in a real browser (Debian's chromium) against the product served by uvicorn."""

import json
import re

import pytest

from tests.e2e.conftest import ARTIFACTS, browser_required

pytestmark = pytest.mark.slow

browser_required()
from playwright import sync_api  # noqa: E402


def frames_of(page) -> list[dict]:
    """Every frame the page's websockets receive, decoded."""
    frames: list[dict] = []

    def watch(socket):
        socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", watch)
    return frames


def test_chat_streams_a_reply_and_keeps_it_across_a_reload(server, browser):
    expect = sync_api.expect
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    frames = frames_of(page)
    page.goto(server.url + "/")
    launcher = page.get_by_role("button", name="Open chat")
    expect(launcher).to_be_visible()
    launcher.click()
    message = page.get_by_role("textbox", name="Message")
    expect(message).to_be_focused()
    message.fill("Where is my order?")
    message.press("Enter")

    customer = page.locator(".msg.customer")
    expect(customer).to_have_text("Where is my order?")
    reply = page.locator(".msg.assistant:not(.greeting):not(.typing)")
    expect(reply).to_have_count(1, timeout=15_000)
    # The stop button gives way to the send button once the reply is done.
    expect(page.get_by_role("button", name="Send")).to_be_visible(timeout=15_000)
    done = [f for f in frames if f["type"] == "assistant.done"]
    assert len(done) == 1, [f["type"] for f in frames]
    deltas = [f for f in frames if f["type"] == "assistant.delta"]
    assert deltas, "the reply was not streamed"
    assert "".join(d["text"] for d in deltas).strip() == done[0]["text"].strip()
    first_words = " ".join(done[0]["text"].split()[:3])
    expect(reply).to_contain_text(first_words)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-chat.png"))

    page.reload()
    expect(page.locator(".msg.customer")).to_have_text("Where is my order?", timeout=10_000)
    expect(page.locator(".msg.assistant:not(.greeting):not(.typing)")).to_contain_text(first_words)
    page.screenshot(path=str(ARTIFACTS / "widget-after-reload.png"))

    page.get_by_role("button", name="Talk to a human").click()
    expect(page.get_by_text("Waiting for an agent…")).to_be_visible()
    expect(page.locator(".note").last).to_contain_text("You asked for a human")
    context.close()


HOSTILE_REPLY = """**Bold** and a [safe link](https://example.com/track?o=1).
<img src=x onerror="window.pwned=1"> <script>window.pwned=1</script>
[click me](javascript:window.pwned=1) ![tracker](https://example.com/pixel.png)"""

ADD_REPLY = """
from conversations.domain.messages import message_append
from conversations.models import Conversation
conversation = Conversation.objects.order_by("-created_at").first()
message_append(conversation_id=conversation.pk, role="assistant", text={text!r})
"""


def test_replies_render_markdown_without_html_injection(server, browser):
    expect = sync_api.expect
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server.url + "/")
    page.get_by_role("button", name="Open chat").click()
    page.get_by_role("textbox", name="Message").fill("Show me some formatting")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.locator(".msg.assistant:not(.greeting):not(.typing)")).to_have_count(1)
    server.manage("shell", "-c", ADD_REPLY.format(text=HOSTILE_REPLY))
    page.reload()
    reply = page.locator(".msg.assistant:not(.greeting):not(.typing)").last
    expect(reply).to_contain_text("Bold and a safe link.")
    assert reply.locator("strong").inner_text() == "Bold"
    safe = reply.get_by_role("link", name="safe link")
    assert safe.get_attribute("href") == "https://example.com/track?o=1"
    assert safe.get_attribute("target") == "_blank"
    assert "noopener" in safe.get_attribute("rel")
    assert reply.locator("img, script").count() == 0
    expect(reply).to_contain_text('<img src=x onerror="window.pwned=1">')
    assert reply.get_by_role("link", name="click me").count() == 0  # javascript: stays text
    assert (
        reply.get_by_role("link", name="Image: tracker").get_attribute("href").endswith("pixel.png")
    )
    assert page.evaluate("window.pwned") is None
    assert not [url for url in requested if "example.com" in url]
    context.close()


def test_the_widget_fits_a_phone_and_closes_with_escape(server, browser):
    expect = sync_api.expect
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True)
    page = context.new_page()
    page.goto(server.url + "/widget/demo")
    page.get_by_role("button", name="Open chat").click()
    panel = page.get_by_role("dialog")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box["width"] == 375 and box["height"] == 667
    page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.get_by_role("button", name="Open chat")).to_be_focused()
    context.close()


CLOSE_CONVERSATION = """
from conversations.models import Conversation
from conversations.domain.status import conversation_close
conversation = Conversation.objects.order_by("-created_at").first()
conversation_close(conversation_id=conversation.pk, closed_by="agent")
"""

READ_RATING = """
from conversations.models import Conversation
conversation = Conversation.objects.order_by("-created_at").first()
print(conversation.csat_rating, conversation.attachments.filter(message__isnull=False).count())
"""


def test_an_image_is_attached_and_the_closed_conversation_is_rated(server, browser, tmp_path):
    import io

    from PIL import Image

    expect = sync_api.expect
    picture = tmp_path / "receipt.png"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 120, 200)).save(buffer, format="PNG")
    picture.write_bytes(buffer.getvalue())
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Open chat").click()
    expect(page.get_by_role("button", name="Talk to a human")).to_be_enabled()
    page.locator("input[type=file]").set_input_files(str(picture))
    expect(page.get_by_role("img", name="Image to send")).to_be_visible()
    page.get_by_role("textbox", name="Message").fill("Here is my receipt")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".msg.customer img")).to_be_visible()
    expect(page.locator(".msg.assistant:not(.greeting):not(.typing)")).to_have_count(1)

    server.manage("shell", "-c", CLOSE_CONVERSATION)
    # Another process closed it: live over Redis, and on the embedded default (in-memory
    # layer, one process) the widget learns it when it (re)connects.
    page.reload()
    expect(page.get_by_text("How did we do?")).to_be_visible()
    expect(page.get_by_role("textbox", name="Message")).to_be_disabled()
    page.get_by_role("button", name="Rate 5 out of 5").click()
    expect(page.get_by_text("Thanks for your feedback!")).to_be_visible()
    stored: list[str] = []
    for _ in range(20):  # the rating frame is stored a moment after the click
        stored = server.manage("shell", "-c", READ_RATING).split()[-2:]
        if stored == ["5", "1"]:
            break
        page.wait_for_timeout(250)
    assert stored == ["5", "1"]  # rated 5, and the image is bound to the customer's message

    page.reload()  # the stored image comes back with the history, fetched with the token
    image = page.locator(".msg.customer img")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    page.screenshot(path=str(ARTIFACTS / "widget-rated.png"))
    context.close()
