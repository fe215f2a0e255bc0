"""A question the help center answers: the reply cites its article, and the link opens it."""

import pytest

from tests.e2e.conftest import browser_required

pytestmark = pytest.mark.slow

browser_required()
from playwright import sync_api  # noqa: E402


def test_a_reply_links_the_article_section_it_comes_from(server, browser):
    expect = sync_api.expect
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("button", name="Open chat").click()
    message = page.get_by_role("textbox", name="Message")
    message.fill("How long is the warranty on batteries?")
    message.press("Enter")

    reply = page.locator(".msg.assistant:not(.greeting):not(.typing)")
    expect(reply).to_contain_text("Batteries are covered for 6 months", timeout=15_000)
    source = reply.get_by_role("link", name="Warranty coverage \u203a How long the warranty lasts")
    expect(source).to_be_visible()
    href = source.get_attribute("href")
    assert href.startswith(server.url + "/help/demo/") and href.endswith(
        "#how-long-the-warranty-lasts"
    )

    article = context.new_page()
    article.goto(href)
    expect(article.get_by_role("heading", name="Warranty coverage")).to_be_visible()
    expect(article.locator("#how-long-the-warranty-lasts")).to_have_text(
        "How long the warranty lasts"
    )
    expect(article.get_by_text("Batteries are covered for 6 months.")).to_be_visible()
    context.close()


def test_the_sources_line_speaks_the_widget_s_language(server, browser):
    expect = sync_api.expect
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/?lang=de")
    page.get_by_role("button", name="Chat öffnen").click()
    message = page.get_by_role("textbox", name="Nachricht")
    message.fill("How long is the warranty on batteries?")
    message.press("Enter")
    reply = page.locator(".msg.assistant:not(.greeting):not(.typing)")
    expect(reply).to_contain_text("Batteries are covered for 6 months", timeout=15_000)
    expect(reply.locator(".sources")).to_have_text(
        "Quellen: Warranty coverage \u203a How long the warranty lasts"
    )
    context.close()


def test_on_a_phone_the_store_s_header_links_each_stay_on_one_line(server, browser):
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True)
    page = context.new_page()
    page.goto(server.url + "/")
    lines = page.locator("header nav a").evaluate_all(
        "links => links.map(a => [a.textContent, a.getClientRects().length])"
    )
    assert ["Help center", 1] in lines and all(n == 1 for _, n in lines), lines
    page.get_by_role("link", name="Help center").click()
    sync_api.expect(page.get_by_role("heading", name="Demo Store help center")).to_be_visible()
    context.close()
