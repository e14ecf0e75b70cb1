"""Every role's main pages on a phone (390 x 844) and on a desk (1366 x 900), in Arabic and
French, in Debian's Chromium (issue 21): the document is never wider than the viewport, the
language switch and the page's primary action are inside the viewport and at least 44 px high,
and axe-core finds no serious or critical violation on the pages people use most.

One server and one browser for the module; one browser context per role, locale and viewport.
Each page is screenshotted to ``test-artifacts/layout/<width>-<locale>/<role>-<page>.png``
(``AQD_TEST_ARTIFACTS`` moves ``test-artifacts/``). The phone in Arabic is the fast tier; the
other three columns run in ``make test-all`` (marked slow).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from api.demo import DEMO_PASSWORD
from engine.access.accounts import create_user
from engine.models import Contract, Employer, HumanTask, User
from engine.outbox import runner as outbox
from tests.helpers.browser import ARTIFACTS, LiveServer
from tests.helpers.layout import axe_violations, overflow, tap_problem
from tests.web.conftest import Seeded, Web, _build

PHONE = (390, 844)
DESK = (1366, 900)
TABLET = (768, 1024)
LAYOUT_ARTIFACTS = ARTIFACTS / "layout"
SIGNER = "signer.bar"  # the job seeker of the Ben Arous contract awaiting signatures


@dataclass(frozen=True)
class Visit:
    name: str
    path: str  # may hold {task}, {agreement}, {contract}, {company}: filled from the site
    primary: str | None = None  # the page's primary action (a CSS selector)
    axe: bool = False  # axe-core must find no serious or critical violation
    sign: bool = False  # reach the page through "Read and sign" on /me/signatures
    pages: bool = False  # shows the contract as page images, which must load


HOME = Visit("home", "/")
MAILBOX = Visit("mailbox", "/me/mailbox", axe=True)
CONTRACT = Visit("contract", "/contracts/{contract}", "[data-testid=read-contract]", axe=True)
DOCUMENT = Visit(
    "document", "/contracts/{contract}/document", "[data-testid=download-pdf]", pages=True
)
SIGNATURES = Visit("signatures", "/me/signatures")
ANALYTICS = Visit("analytics", "/analytics", "[data-testid=apply-filters]")

#: role -> the pages it uses, in the order a person would visit them.
ROLES: dict[str, list[Visit]] = {
    "anonymous": [
        Visit("login", "/login", "main button.primary", axe=True),
        Visit("register", "/register", "[data-testid=register]"),
        Visit("verify", "/verify", "main button.primary"),
    ],
    "counsellor.tun": [
        HOME,
        Visit("inbox", "/inbox", "[data-testid=apply-filters]", axe=True),
        Visit("task", "/tasks/{task}", "[data-testid=claim]", axe=True),
        CONTRACT,
        Visit("contracts", "/contracts", "main form button.primary"),
        # the registry card of Tunis's third demo job seeker (CIN 10000274), its corrections
        # folded in each fact's row
        Visit("registry", "/registry/10000274", "[data-testid=registry-search]", axe=True),
        MAILBOX,
    ],
    "head.tun": [
        HOME,
        Visit("task", "/tasks/{task}", "[data-testid=claim]"),
        ANALYTICS,
        Visit("verifications", "/verifications", "[data-testid=start-verification]"),
        Visit("companies", "/companies"),
        Visit("company", "/companies/{company}", "[data-testid=approve-company]", axe=True),
    ],
    "employer.tun": [
        Visit("home", "/employer", "[data-testid=new-request]", axe=True),
        Visit("task", "/tasks/{agreement}", "[data-testid=submit]", axe=True),
        CONTRACT,
        DOCUMENT,
        Visit("request", "/employer/request", "[data-testid=choose-programme]"),
        Visit("request-form", "/employer/request?programme=civp", "[data-testid=send-request]"),
        SIGNATURES,
        MAILBOX,
        # the contact details signing codes go to, with their verification state
        Visit("settings", "/me/settings", "[data-testid=save-contact]", axe=True),
    ],
    "beneficiary.tun": [HOME, CONTRACT, SIGNATURES, MAILBOX],
    SIGNER: [
        HOME,
        Visit("signatures", "/me/signatures", "[data-testid=read-and-sign]"),
        Visit("signing", "", "[data-testid=sign]", axe=True, sign=True, pages=True),
        MAILBOX,
    ],
    "auditor": [
        HOME,
        CONTRACT,
        Visit("history", "/contracts/{contract}/history", "[data-testid=verify]"),
        ANALYTICS,
    ],
    "manager": [
        Visit("modeller-index", "/modeller"),
        Visit("modeller", "/modeller/civp", "[data-testid=save]", axe=True),
        ANALYTICS,
    ],
}


@dataclass
class Site:
    live: LiveServer
    ids: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.live.url + path.format(**self.ids)


def _drain(web: Web) -> None:
    for _ in range(20):
        if outbox.run_once(web.aqd).claimed == 0:
            return


@pytest.fixture(scope="module")
def site(seeded_pg: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A live server on a copy of the demo where the Ben Arous contract awaiting validation was
    validated, so its job seeker (:data:`SIGNER`) has a contract to sign."""
    tmp = tmp_path_factory.mktemp("layout")
    web = _build(seeded_pg.copy(tmp), seeded_pg.now)
    web.aqd.settings.var_dir = tmp  # the development PKI the signature requests use
    guid = web.ready_task("BAR", "counsellor_validation")
    with web.aqd.session() as s, s.begin():
        web.aqd.complete_task(s, guid, {"validation_decision": "validate"}, "counsellor.bar")
        contract = s.scalar(select(Contract).join(HumanTask).where(HumanTask.task_guid == guid))
        assert contract is not None
        create_user(
            s,
            SIGNER,
            DEMO_PASSWORD,
            ["beneficiary"],
            web.clock.now(),
            display_name="أميرة بن صالح",
            locale="ar",
            beneficiary_id=contract.beneficiary_id,
        )
    _drain(web)
    with web.aqd.session() as s:
        active = s.scalar(
            select(Contract.id)
            .join(User, User.beneficiary_id == Contract.beneficiary_id)
            .where(User.username == "beneficiary.tun")
        )
        pending = s.scalar(select(Employer.id).where(Employer.name == "Médina Digital SARL"))
    ids = {
        "task": web.ready_task("TUN", "counsellor_validation"),
        "agreement": web.ready_task("TUN", "employer_agreement"),
        "contract": str(active),
        "company": str(pending),  # the demo's company waiting for its office's check
    }
    with LiveServer(web) as live:
        yield Site(live, ids)


def _context(browser: Browser, viewport: tuple[int, int], locale: str) -> BrowserContext:
    width, height = viewport
    return browser.new_context(
        viewport={"width": width, "height": height},
        locale="ar-TN" if locale == "ar" else "fr-FR",
        has_touch=width < 800,
    )


def _sign_in(page: Page, site: Site, role: str, locale: str) -> None:
    page.goto(site.url("/login"))
    if role != "anonymous":
        page.locator("#username").fill(role)
        page.locator("#password").fill(DEMO_PASSWORD)
        page.locator("main button.primary").click()
        page.wait_for_load_state()
    switch = page.get_by_test_id(f"lang-{locale}")
    if switch.count():
        switch.click()
        page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", locale)


def _open(page: Page, site: Site, visit: Visit) -> None:
    if visit.sign:
        page.goto(site.url("/me/signatures"))
        page.get_by_test_id("read-and-sign").first.click()
        page.wait_for_url(re.compile(r"/sign/"))
    else:
        response = page.goto(site.url(visit.path))
        assert response is not None and response.status == 200, f"{visit.path}: {response}"
    page.wait_for_load_state()
    if visit.name == "modeller":
        expect(page.locator(".djs-container")).to_have_count(1)


def _page_images(page: Page, where: str) -> list[str]:
    """The contract's pages are images the server drew, not the browser's PDF plug-in."""
    images = page.get_by_test_id("page-image")
    if images.count() == 0 or page.locator("iframe, embed, object").count():
        return [f"{where}: the contract is not shown as page images"]
    images.first.scroll_into_view_if_needed()
    expect(images.first).to_have_js_property("complete", True)
    if images.first.evaluate("img => img.naturalWidth") < 800:
        return [f"{where}: the first page image did not load"]
    return []


def _menu(page: Page, width: int, where: str, shot: Path) -> list[str]:
    """On a phone the main menu folds behind one button, which opens it: every link tappable."""
    nav = page.locator("#main-menu")
    if nav.is_visible():
        return [f"{where}: the main menu is not folded"]
    toggle = page.get_by_test_id("menu")
    problems = [p for p in [tap_problem(toggle, width, "menu button")] if p]
    toggle.click()
    expect(nav).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    for i in range(nav.get_by_role("link").count()):
        problem = tap_problem(nav.get_by_role("link").nth(i), width, f"menu link {i + 1}")
        if problem:
            problems.append(f"{where}: {problem}")
    page.screenshot(path=str(shot), full_page=True)
    scroll, culprits = overflow(page, width)
    if scroll > width:
        problems.append(f"{where}: {scroll} px wide with the menu open; sticking out: {culprits}")
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    return problems


def walk(browser: Browser, site: Site, viewport: tuple[int, int], locale: str, role: str) -> None:
    width = viewport[0]
    shots = LAYOUT_ARTIFACTS / f"{width}-{locale}"
    shots.mkdir(parents=True, exist_ok=True)
    context = _context(browser, viewport, locale)
    problems: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        _sign_in(page, site, role, locale)
        for visit in ROLES[role]:
            _open(page, site, visit)
            where = f"{role} {visit.name} {width}px {locale}"
            expect(page.locator("html")).to_have_attribute(
                "dir", "rtl" if locale == "ar" else "ltr"
            )
            page.screenshot(path=str(shots / f"{role}-{visit.name}.png"), full_page=True)
            scroll, culprits = overflow(page, width)
            if scroll > width:
                problems.append(f"{where}: {scroll} px wide; sticking out: {culprits}")
            other = "fr" if locale == "ar" else "ar"
            for selector, what in (
                (f"[data-testid=lang-{other}]", "language switch"),
                (visit.primary, "primary action"),
            ):
                if selector is None:
                    continue
                problem = tap_problem(page.locator(selector), width, what)
                if problem:
                    problems.append(f"{where}: {problem}")
            if visit.pages:
                problems += _page_images(page, where)
            if visit.axe:
                problems += [f"{where}: {v}" for v in axe_violations(page)]
            if visit is ROLES[role][0] and role != "anonymous" and width < 800:
                problems += _menu(page, width, where, shots / f"{role}-menu.png")
    finally:
        context.close()
    print(f"screenshots: {shots}")
    assert problems == [], "\n".join(problems)


COLUMNS = [
    pytest.param(PHONE, "ar", id="390-ar"),
    pytest.param(PHONE, "fr", id="390-fr", marks=pytest.mark.slow),
    pytest.param(DESK, "ar", id="1366-ar", marks=pytest.mark.slow),
    pytest.param(DESK, "fr", id="1366-fr", marks=pytest.mark.slow),
    pytest.param(TABLET, "fr", id="768-fr", marks=pytest.mark.slow),  # between the breakpoints
]


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize(("viewport", "locale"), COLUMNS)
def test_every_page_fits_and_is_accessible(
    browser: Browser, site: Site, viewport: tuple[int, int], locale: str, role: str
) -> None:
    walk(browser, site, viewport, locale, role)


def test_the_checks_see_a_planted_problem(browser: Browser, site: Site) -> None:
    """The checks are not vacuous: a wide block, a short button and an unlabelled field
    planted into the sign-in page are each reported."""
    context = _context(browser, PHONE, "fr")
    try:
        page = context.new_page()
        page.goto(site.url("/login"))
        assert overflow(page, PHONE[0])[0] <= PHONE[0]
        assert axe_violations(page) == []
        page.evaluate(
            """() => {
              const main = document.querySelector('main');
              main.insertAdjacentHTML('beforeend',
                '<div style="inline-size: 900px" id="wide">x</div>' +
                '<button style="min-block-size: 0; padding: 0" id="short">x</button>' +
                '<input id="nameless">');
            }"""
        )
        scroll, culprits = overflow(page, PHONE[0])
        assert scroll > PHONE[0] and any("div#wide" in c for c in culprits)
        assert "less than 44" in (tap_problem(page.locator("#short"), PHONE[0], "x") or "")
        assert any(v.startswith("label (critical)") for v in axe_violations(page))
    finally:
        context.close()
