"""The decision-table editor (dmn-js) in a real browser: a programme manager opens CIVP's
eligibility table, changes a rule's threshold by typing in its cell, saves (the draft is
checked with the deploy rules), compares with the deployed version, deploys with a note, and
the new version decides differently; an input entry that does not compile is refused with a
message naming its rule, in the user's language."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from engine.definitions.deploy import evaluate_decision
from engine.models import DefinitionDraft, ProcessDefinition
from tests.helpers.browser import ARTIFACTS, LiveServer, sign_in

# The modeller in a real browser (Chromium, a live server and the seeded demo per test):
# make test-all only. Chromium stays in the fast tier through tests/web/test_browser.py, and the
# modeller's API through test_modeller_api.py and test_modeller_dmn_api.py.
pytestmark = pytest.mark.slow

FILE = "civp_eligibility.dmn"
# Rule 5 refuses a job seeker who already had max_civp_months of CIVP; its threshold column.
CELL = "rule_5_in_6"
CASE = {
    "nationality": "TN",
    "registered_at_office": True,
    "diploma_level": "HIGHER_ED",
    "is_primo": True,
    "disabled": False,
    "schooling_ok": True,
    "prior_civp_months": 20,
    "max_civp_months": 36,
}


def open_table(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/modeller/civp")
    page.get_by_test_id("file-link").filter(has_text=FILE).click()
    expect(page.locator("[data-dmn-editor]")).to_have_attribute("data-ready", "yes", timeout=20_000)


def type_in_cell(page: Page, element_id: str, text: str) -> None:
    cell = page.locator(f'td[data-element-id="{element_id}"]')
    cell.click()
    editable = cell.locator(".cm-content")  # dmn-js 17 edits cells in CodeMirror
    editable.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Escape")  # leave the cell (dmn-js commits as you type)
    expect(cell).to_contain_text(text)


def decide(server: LiveServer) -> dict[str, Any]:
    aqd = server.web.aqd
    with aqd.session() as s:
        return evaluate_decision(
            s, "civp", "civp_beneficiary_eligibility", CASE, aqd.sandbox, aqd.clock
        )


def test_edit_a_threshold_save_diff_deploy_and_decide(browser: Browser, live: LiveServer) -> None:
    before = decide(live)
    assert before["version"] == 1 and before["outputs"]["reason"] == "OK"

    page = sign_in(browser, live, "manager")
    open_table(page, live)
    root = page.locator("[data-dmn-editor]")
    expect(page.get_by_test_id("modeller-files")).to_contain_text("civp.bpmn")
    type_in_cell(page, CELL, "? >= 12")

    page.get_by_test_id("save").click()
    expect(root).to_have_attribute("data-saved", "1")
    expect(root).to_have_attribute("data-problems", "0")
    expect(page.get_by_test_id("modeller-status")).to_contain_text("aucun problème")
    with live.web.aqd.session() as s:
        draft = s.scalar(select(DefinitionDraft).where(DefinitionDraft.file == FILE))
        assert draft is not None and "? &gt;= 12" in draft.xml and draft.problems == []

    page.get_by_test_id("diff").click()
    expect(page.get_by_test_id("diff-summary")).to_have_text("+0 ~1 -0")
    diff = json.loads(root.get_attribute("data-diff") or "{}")
    assert diff["changed"] == [CELL] and diff["added"] == [] and diff["removed"] == []
    expect(page.locator(f'td.diff-changed[data-element-id="{CELL}"]')).to_have_count(1)
    expect(page.get_by_test_id("diff-list")).to_contain_text("prior_civp_months")
    page.screenshot(path=str(ARTIFACTS / "modeller-dmn-diff.png"), full_page=True)

    page.locator("#note").fill("CIVP: at most 12 months of prior CIVP (test decree)")
    page.get_by_test_id("deploy").click()
    expect(root).to_have_attribute("data-deployed", "2")
    page.reload()
    expect(page.get_by_test_id("version-row")).to_have_count(2)
    expect(page.get_by_test_id("versions")).to_contain_text("at most 12 months")

    with live.web.aqd.session() as s:
        v2 = s.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.programme == "civp", ProcessDefinition.version == 2
            )
        )
        assert v2 is not None and v2.deployed_by == "manager"
        assert "? &gt;= 12" in v2.sources[FILE]
        assert s.scalar(select(DefinitionDraft)) is None
    after = decide(live)
    assert after["version"] == 2
    assert after["outputs"]["eligible"] is False
    assert after["outputs"]["reason"] == "DURATION_EXHAUSTED"


def test_an_entry_that_does_not_compile_is_refused_naming_its_rule(
    browser: Browser,
    live: LiveServer,
) -> None:
    page = sign_in(browser, live, "manager")
    open_table(page, live)
    root = page.locator("[data-dmn-editor]")
    type_in_cell(page, CELL, "? >= 12 +")

    page.get_by_test_id("save").click()
    expect(root).to_have_attribute("data-saved", "1")
    expect(root).to_have_attribute("data-problems", "1")
    problems = page.get_by_test_id("problems")
    expect(problems).to_contain_text("Règle 5 (rule_5)")
    expect(problems).to_contain_text("prior_civp_months")
    expect(problems).to_contain_text("Cette entrée ne compile pas")
    expect(problems).to_contain_text("? >= 12 +")  # the cell as typed, not the engine's rewrite
    expect(page.locator(f'td.problem[data-element-id="{CELL}"]')).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "modeller-dmn-problem.png"), full_page=True)

    page.locator("#note").fill("This must not deploy")
    page.get_by_test_id("deploy").click()
    expect(page.get_by_test_id("modeller-status")).not_to_be_empty()
    expect(root).not_to_have_attribute("data-deployed", "2")
    with live.web.aqd.session() as s:
        versions = s.scalars(
            select(ProcessDefinition.version).where(ProcessDefinition.programme == "civp")
        ).all()
        assert list(versions) == [1]
        draft = s.scalar(select(DefinitionDraft).where(DefinitionDraft.file == FILE))
        assert draft is not None and draft.problems[0]["element"] == CELL

    # The kept draft and its problem, in Arabic.
    page.get_by_test_id("lang-ar").click()
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(root).to_have_attribute("data-ready", "yes", timeout=20_000)
    expect(page.locator(f'td[data-element-id="{CELL}"]')).to_contain_text("? >= 12 +")
    expect(problems).to_contain_text("القاعدة 5 (rule_5)")
    expect(problems).to_contain_text("لا يمكن ترجمة شرط الإدخال هذا")
