"""Simulation from the modeller: the REST endpoint for programme managers, and the modeller page
running a table of cases and highlighting each case's path on the diagram (French page)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers.browser import ARTIFACTS, LiveServer, sign_in
from tests.web.conftest import Web

# The modeller in a real browser (Chromium, a live server and the seeded demo per test):
# make test-all only. Chromium stays in the fast tier through tests/web/test_browser.py, and the
# modeller's API through test_modeller_api.py and test_modeller_dmn_api.py.
pytestmark = pytest.mark.slow

REQUEST = {
    "office": "TUN",
    "employer_mf": "1234567A",
    "beneficiary_cin": "12345678",
    "nationality": "TN",
    "diploma_level": "HIGHER_ED",
    "request_date": "2025-03-01",
}
AGREEMENT = {
    "agreed": True,
    "position_title": "Agent",
    "tutor_name": "M. X",
    "employer_complement": 200,
}
CASES = [
    {
        "name": "agreed and validated",
        "data": REQUEST,
        "steps": [
            {"task": "employer_agreement", "data": AGREEMENT},
            {"task": "counsellor_validation", "data": {"validation_decision": "validate"}},
        ],
    },
    {"name": "foreign national", "data": {**REQUEST, "nationality": "OTHER"}},
]


def test_the_simulation_endpoint(web: Web) -> None:
    c = web.client()
    url = "/api/v1/definitions/civp/simulate"
    r = c.post(url, headers=web.token("manager"), json={"cases": CASES, "on": "2025-03-03"})
    assert r.status_code == 200, r.text
    agreed, foreign = r.json()["cases"]
    assert agreed["status"] == "waiting" and agreed["waiting_messages"] == ["signature_result"]
    assert agreed["thrown"] == ["signature_request"]
    assert foreign["path"][-2:] == ["mark_ineligible", "end_ineligible"]
    assert foreign["decisions"][-1]["outputs"]["reason"] == "NATIONALITY"
    assert (
        c.post(url, headers=web.token("counsellor.tun"), json={"cases": CASES}).status_code == 403
    )
    assert c.post(url, headers=web.token("manager"), json={"cases": []}).status_code == 422
    civp = c.get("/api/v1/definitions/civp/source", headers=web.token("manager")).json()["xml"]
    broken = civp.replace("eligible == True", "eligible ==")
    assert broken != civp
    saved = c.put(
        "/api/v1/definitions/civp/draft",
        headers=web.token("manager"),
        json={"file": "civp.bpmn", "xml": broken},
    )
    assert saved.json()["problems"]
    refused = c.post(url, headers=web.token("manager"), json={"cases": CASES})
    assert refused.status_code == 422 and refused.json()["error"] == "definition_invalid"
    assert any("f_eligible" in where for where in refused.json()["fields"])
    deployed = c.post(url, headers=web.token("manager"), json={"cases": CASES, "drafts": False})
    assert deployed.status_code == 200 and deployed.json()["drafts"] == []


def test_simulating_cases_on_the_modeller_page(browser: Browser, live: LiveServer) -> None:
    page = sign_in(browser, live, "manager")
    page.goto(f"{live.url}/modeller/civp")
    root = page.locator("[data-modeller]")
    expect(root).to_have_attribute("data-ready", "yes", timeout=20_000)
    section = page.get_by_test_id("simulation")
    expect(section).to_contain_text("Cas types (JSON)")
    page.locator("#sim-cases").fill(json.dumps(CASES))
    page.get_by_role("button", name="Lancer la simulation").click()
    expect(root).to_have_attribute("data-simulated", "1")
    rows = page.get_by_test_id("simulation-case")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-status", "waiting")
    expect(rows.nth(0)).to_contain_text("signature_result")
    expect(rows.nth(1)).to_contain_text("civp_beneficiary_eligibility: eligible=false")
    # the first case is shown at once: its path is green (sub-processes are drawn collapsed)
    marked = page.locator(".djs-element.sim-path")
    expect(
        page.locator('.djs-element.sim-path[data-element-id="f_employer_eligible"]')
    ).to_have_count(1)
    expect(page.locator('.djs-element.sim-path[data-element-id="mark_ineligible"]')).to_have_count(
        0
    )
    rows.nth(1).get_by_test_id("show-path").click()
    expect(page.locator('.djs-element.sim-path[data-element-id="mark_ineligible"]')).to_have_count(
        1
    )
    expect(page.locator('.djs-element.sim-path[data-element-id="f_not_eligible"]')).to_have_count(1)
    expect(page.locator('.djs-element.sim-path[data-element-id="f_eligible"]')).to_have_count(0)
    assert marked.count() >= 8
    assert (root.get_attribute("data-sim-path") or "").endswith("mark_ineligible end_ineligible")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "modeller-simulation.png"), full_page=True)

    page.get_by_test_id("lang-ar").click()
    expect(root).to_have_attribute("data-ready", "yes", timeout=20_000)
    expect(page.get_by_test_id("simulation")).to_contain_text("المحاكاة")
    page.locator("#sim-cases").fill(json.dumps(CASES[1:]))
    page.get_by_role("button", name="تشغيل المحاكاة").click()
    expect(page.get_by_test_id("simulation-case")).to_contain_text("انتهت")
    expect(page.locator('.djs-element.sim-path[data-element-id="mark_ineligible"]')).to_have_count(
        1
    )
