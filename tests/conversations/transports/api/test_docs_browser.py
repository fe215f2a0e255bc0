"""From /api/docs/ alone, in a real browser: key, conversation, SSE reply, transcript, webhooks."""

import shutil
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model

from conversations.domain.webhooks import SIGNATURE_HEADER, webhook_signature_verify
from tests.conftest import requires_postgres

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

FLOW = """async ({slug, hook}) => {
  const csrf = document.body.dataset.csrfToken;
  const json = {"Content-Type": "application/json"};
  const post = (path, body, headers) =>
    fetch(path, {method: "POST", headers: {...json, ...headers}, body: JSON.stringify(body)});
  const keyBody = {name: "docs", scopes: ["chat", "read"]};
  const keyResponse = await post(`/api/v1/bots/${slug}/keys`, keyBody, {"X-CSRFToken": csrf});
  const key = await keyResponse.json();
  const hookResponse = await post(`/api/v1/bots/${slug}/webhooks`, {url: hook},
                                  {"X-CSRFToken": csrf});
  const webhook = await hookResponse.json();
  const auth = {Authorization: `Bearer ${key.secret}`};
  const conversation = await (await post("/api/v1/conversations", {}, auth)).json();
  const stream = await post(`/api/v1/conversations/${conversation.id}/messages`,
                            {text: "Where is my order?"}, {...auth, Accept: "text/event-stream"});
  const sse = await stream.text();
  const transcript = await (await fetch(`/api/v1/conversations/${conversation.id}/messages`,
                                        {headers: auth})).json();
  return {key, webhook, conversation, sse, transcript,
          contentType: stream.headers.get("content-type")};
}"""


@requires_postgres
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/install-chromium)")
def test_a_developer_needs_only_the_docs_page(live_debug_server_url, bot, receiver):
    from playwright.sync_api import sync_playwright

    get_user_model().objects.create_superuser("dev", "dev@example.com", "docs-pass-123")
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on(
                "request",
                lambda r: (
                    urlsplit(r.url).hostname not in ("127.0.0.1", None) and outside.append(r.url)
                ),
            )
            page.goto(f"{live_debug_server_url}/admin/login/?next=/api/docs/")
            page.fill("#id_username", "dev")
            page.fill("#id_password", "docs-pass-123")
            page.click("input[type=submit]")
            page.wait_for_url("**/api/docs/")
            page.wait_for_selector(".opblock-summary", timeout=20_000)
            assert page.locator(".opblock-summary").count() >= 15
            assert page.locator("text=Authorize").count() >= 1
            result = page.evaluate(FLOW, {"slug": bot.slug, "hook": receiver.url})
        finally:
            browser.close()

    assert outside == [], "the docs page must not load anything from the internet"
    assert result["key"]["secret"].startswith("sbk_")
    assert result["contentType"].startswith("text/event-stream")
    sse = result["sse"]
    for event in ("message.accepted", "assistant.started", "assistant.delta", "assistant.done"):
        assert f"event: {event}\n" in sse
    roles = [m["role"] for m in result["transcript"]["items"]]
    assert roles == ["customer", "assistant"]

    received = receiver.wait_for(3)
    events = [r.payload["event"] for r in received]
    assert events == ["conversation.created", "message.created", "message.created"]
    secret = result["webhook"]["secret"]
    assert all(
        webhook_signature_verify(secret=secret, header=r.headers[SIGNATURE_HEADER], body=r.body)
        for r in received
    )
