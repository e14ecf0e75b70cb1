"""Diagrams written by other BPMN tools (tests/modeller/corpus, listed in SOURCES.md) open in the
modeller's bpmn-js Modeler in Debian's Chromium and survive a save round-trip: every model
element keeps its id and type, every diagram shape its bounds and every edge its waypoints, and
saving the re-imported file gives the same XML again. One bpmn-js behaviour is accepted and
checked as such: a collapsed sub-process drawn in its parent's plane moves to a drill-down plane
of its own (its drawings translated together, see ``layout_changes``). The shapes of a process no
pool shows in a collaboration diagram (MIWG B.1.0 and B.2.0) are not drawn; bpmn-js dropped them
on save until the modeller put them back (``api/static/src/modeller.js``).

One browser, one page: the modeller page of the live app, each corpus file imported in turn
into the page's own modeler instance.
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from playwright.sync_api import Browser, expect

from tests.helpers.browser import LiveServer, sign_in
from tests.modeller.corpus_files import CORPUS, layout_changes, model_elements
from tests.web.conftest import Web

# The modeller in a real browser (Chromium, a live server and the seeded demo per test):
# make test-all only. Chromium stays in the fast tier through tests/web/test_browser.py, and the
# modeller's API through test_modeller_api.py and test_modeller_dmn_api.py.
pytestmark = pytest.mark.slow

ROUND_TRIP = """async (xml) => {
  const m = window.AqdModeller.modeler;
  const messages = (ws) => (ws || []).map((w) => String(w.message || w));
  let first;
  try {
    first = await m.importXML(xml);
  } catch (err) {
    return { error: String(err.message || err), warnings: messages(err.warnings) };
  }
  const shown = m.get('elementRegistry').getAll().length;
  const { xml: saved } = await m.saveXML({ format: true });
  const again = await m.importXML(saved);
  const { xml: resaved } = await m.saveXML({ format: true });
  return { saved, resaved, shown, warnings: messages(first.warnings),
           warnings_again: messages(again.warnings) };
}"""

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _check(name: str, original: str, result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return [f"{name}: import failed: {result['error']} {result['warnings'][:3]}"]
    failures = []
    if result["shown"] < 2:
        failures.append(f"{name}: nothing drawn")
    before = etree.fromstring(original.encode(), _PARSER)
    after = etree.fromstring(result["saved"].encode(), _PARSER)
    lost = {k: v for k, v in model_elements(before).items() if model_elements(after).get(k) != v}
    if lost:
        failures.append(f"{name}: elements lost or retyped: {sorted(lost.items())[:5]}")
    lost_di, moved = layout_changes(before, after)
    if lost_di or moved:
        failures.append(f"{name}: diagram layout lost {lost_di[:5]} or moved {moved[:3]}")
    if result["resaved"] != result["saved"]:
        failures.append(f"{name}: a second save round-trip changed the XML")
    if result["warnings_again"] and not result["warnings"]:
        failures.append(f"{name}: the saved file imports with warnings {result['warnings_again']}")
    return failures


def test_corpus_opens_and_round_trips_in_the_modeller(browser: Browser, live: LiveServer) -> None:
    page = sign_in(browser, live, "manager")
    page.goto(f"{live.url}/modeller/civp")
    expect(page.locator("[data-modeller]")).to_have_attribute("data-ready", "yes", timeout=20_000)
    assert len(CORPUS) >= 15
    failures: list[str] = []
    for path in CORPUS:
        original = path.read_text(encoding="utf-8")
        result = page.evaluate(ROUND_TRIP, original)
        failures += _check(path.name, original, result)
    assert not failures, "\n".join(failures)


def test_corpus_drafts_are_checked_and_compared_through_the_api(web: Web) -> None:
    """Each corpus file saved as the draft of CIVP's main file: the answer lists problems with
    their element (never a 500), and the diff against the deployed file answers too."""
    c = web.client()
    headers = web.token("manager")
    for path in CORPUS:
        r = c.put(
            "/api/v1/definitions/civp/draft",
            headers=headers,
            json={"file": "civp.bpmn", "xml": path.read_text(encoding="utf-8")},
        )
        assert r.status_code == 200, (path.name, r.text)
        problems = r.json()["problems"]
        assert problems, path.name
        assert all(p["element"] or p["line"] for p in problems), path.name
        d = c.get("/api/v1/definitions/civp/diff", params={"file": "civp.bpmn"}, headers=headers)
        assert d.status_code == 200, (path.name, d.text)
        assert d.json()["removed"], path.name
    # a draft that is not even well-formed is kept, and comparing it answers 422 (it was a 500)
    cut = CORPUS[0].read_text(encoding="utf-8")[:500]
    r = c.put(
        "/api/v1/definitions/civp/draft", headers=headers, json={"file": "civp.bpmn", "xml": cut}
    )
    assert r.status_code == 200 and "XML syntax error" in r.json()["problems"][0]["message"]
    d = c.get("/api/v1/definitions/civp/diff", params={"file": "civp.bpmn"}, headers=headers)
    assert d.status_code == 422 and "not well-formed" in d.json()["detail"]
