"""The widget on a host page whose signed-in customer changes (issue 11 hole 7, issue 16): a new
identity or none gets a new conversation, and nobody sees the previous customer's messages."""

import hashlib
import hmac
import http.server
import json
import threading

import pytest

from tests.e2e.conftest import browser_required

pytestmark = pytest.mark.slow

browser_required()
from playwright import sync_api  # noqa: E402

BOT_SETUP = """
from conversations.models import Bot
bot = Bot.objects.filter(is_active=True).order_by("pk").first()
bot.allowed_origins = [*bot.allowed_origins, {shop!r}]
bot.save(update_fields=["allowed_origins"])
print("KEYS", bot.public_key, bot.identity_secret)
"""


class HostSite:
    """The store's own site on another origin, a real local server (chromium lets only a
    loopback page call a loopback server); `user` is who is signed in there, or None."""

    def __init__(self) -> None:
        self.user: str | None = None
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.page_for(site.user).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.page_for = lambda user: ""
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def shop():
    site = HostSite()
    yield site
    site.httpd.shutdown()


@pytest.fixture(scope="module")
def bot_keys(server, shop):
    setup = BOT_SETUP.format(shop=shop.url)
    line = next(
        x for x in server.manage("shell", "-c", setup).splitlines() if x.startswith("KEYS ")
    )
    _, public_key, secret = line.split()
    return public_key, secret


def host_page(server, public_key, secret, user):
    """The store's page, with the customer signed in (user) or not (None)."""
    signed = ""
    if user:
        signature = hmac.new(secret.encode(), user.encode(), hashlib.sha256).hexdigest()
        signed = f'data-customer-id="{user}" data-customer-signature="{signature}"'
    return (
        f'<!doctype html><html><body><h1>Shop</h1><script id="sb" src="{server.url}'
        f'/static/supportbot/widget.js" data-bot="{public_key}" {signed}></script></body></html>'
    )


def test_a_new_identity_or_none_starts_a_new_conversation(server, browser, bot_keys, shop):
    expect = sync_api.expect
    public_key, secret = bot_keys
    shop.page_for = lambda user: host_page(server, public_key, secret, user)
    context = browser.new_context()
    page = context.new_page()
    sessions: list[dict] = []
    page.on(
        "response",
        lambda r: sessions.append(json.loads(r.text())) if r.url.endswith("/session") else None,
    )

    shop.user = "cust-alice"
    page.goto(f"{shop.url}/account")
    page.get_by_role("button", name="Open chat").click()
    page.get_by_role("textbox", name="Message").fill("alice's secret question")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".msg.customer")).to_have_text("alice's secret question")
    expect(page.get_by_role("button", name="Send")).to_be_visible(timeout=20_000)
    alice = sessions[-1]["conversation_id"]

    # Alice logs out: the host page no longer carries her identity.
    shop.user = None
    page.reload()  # the chat stays open across pages
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    expect(page.locator(".msg.greeting")).to_be_visible()
    assert sessions[-1]["conversation_id"] != alice and sessions[-1]["resumed"] is False
    expect(page.locator(".msg.customer")).to_have_count(0)

    # Alice signs in again, then, on this single-page host, Bob takes the same browser: the
    # tag's attributes change in place.
    shop.user = "cust-alice"
    page.reload()  # the chat stays open across pages
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    expect(page.locator(".msg.greeting")).to_be_visible()
    before = len(sessions)
    assert sessions[-1]["conversation_id"] != alice  # a new conversation, even for alice
    page.get_by_role("textbox", name="Message").fill("hello again")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".msg.customer")).to_have_text("hello again")
    bob_signature = hmac.new(secret.encode(), b"cust-bob", hashlib.sha256).hexdigest()
    with page.expect_response(lambda r: r.url.endswith("/session")):
        page.evaluate(
            """([signature]) => {
                const tag = document.getElementById("sb");
                tag.dataset.customerId = "cust-bob";
                tag.dataset.customerSignature = signature;
            }""",
            [bob_signature],
        )
    expect(page.locator(".msg.greeting")).to_be_visible()
    expect(page.locator(".msg.customer")).to_have_count(0)
    assert len(sessions) > before and sessions[-1]["resumed"] is False
    assert sessions[-1]["conversation_id"] not in {alice, sessions[before - 1]["conversation_id"]}
    context.close()
