"""Shared by the browser tests: the product served by uvicorn, and Debian's chromium."""

import shutil
from pathlib import Path

import pytest

from tests.e2e.live_server import live_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_required() -> None:
    """Skip the calling module without Debian's chromium or playwright (call at import)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "needs Debian's chromium: apt-get install chromium (make browser)",
            allow_module_level=True,
        )
    pytest.importorskip("playwright.sync_api", reason="needs playwright (dev extras)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("e2e")) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Generous: CI machines (and this one) can be busy.
        sync_api.expect.set_options(timeout=20_000)
        yield chromium
        chromium.close()
