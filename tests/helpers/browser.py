"""Debian's Chromium driven by Playwright (headless) against a real server (uvicorn) in a thread.

Screenshots are written to ``test-artifacts/`` (override with ``AQD_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from playwright.sync_api import Browser, Page

from api.cli import server_config
from api.demo import DEMO_PASSWORD as PASSWORD
from tests.conftest import ROOT

if TYPE_CHECKING:
    from tests.web.conftest import Web


CHROMIUM = "/usr/bin/chromium"


ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


ARTIFACTS = Path(os.environ.get("AQD_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.port = _free_port()
        # the configuration `aqd serve` runs with
        self.server = uvicorn.Server(server_config(web.app, "127.0.0.1", self.port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


#: a phone's viewport (the pages work from 360 to 414 px wide)
PHONE = {"width": 390, "height": 844}


def new_page(browser: Browser, viewport: dict[str, int] | None = None) -> Page:
    context = (
        browser.new_context(locale="fr-FR", viewport=viewport)  # type: ignore[arg-type]
        if viewport
        else browser.new_context(locale="fr-FR")
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


#: the innermost elements that reach past the viewport's width (the start of their HTML)
_TOO_WIDE = """() => {
  const width = window.innerWidth;
  const rtl = document.documentElement.dir === "rtl";
  const scrolls = (e) => getComputedStyle(e).overflowX !== "visible";
  const inScrollBox = (e) => {
    for (let a = e.parentElement; a; a = a.parentElement) if (scrolls(a)) return true;
    return false;
  };
  const wide = [...document.querySelectorAll("body *")].filter((e) => {
    const box = e.getBoundingClientRect();
    const out = rtl ? box.left < -1 : box.right > width + 1;  // the side the page scrolls to
    return box.width > 0 && out && !inScrollBox(e);
  });
  return wide.filter((e) => !wide.some((o) => o !== e && e.contains(o))).map(
    (e) => e.outerHTML.slice(0, 100));
}"""


def too_wide(page: Page) -> list[str]:
    """What makes the page scroll sideways on a phone (empty: nothing)."""
    if page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        return []
    return list(page.evaluate(_TOO_WIDE))


def sign_in(
    browser: Browser, live: LiveServer, username: str, viewport: dict[str, int] | None = None
) -> Page:
    page = new_page(browser, viewport)
    page.goto(f"{live.url}/login")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    return page
