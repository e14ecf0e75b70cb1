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


def new_page(browser: Browser) -> Page:
    page = browser.new_context(locale="fr-FR").new_page()
    page.set_default_timeout(10_000)
    return page


def sign_in(browser: Browser, live: LiveServer, username: str) -> Page:
    page = new_page(browser)
    page.goto(f"{live.url}/login")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    return page
