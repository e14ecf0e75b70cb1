"""Decision-table drafts through the modeller's API: a DRD layout (DMNDI, written by dmn-js
when the DRD is edited) is not a change, an edited output is; an unsupported hit policy is a
problem on its table, and so is a rule that repeats an earlier rule's input entries."""

from __future__ import annotations

from tests.conftest import ROOT
from tests.web.conftest import Web

FILE = "civp_eligibility.dmn"
DMN = (ROOT / "processes" / "civp" / FILE).read_text(encoding="utf-8")
DMNDI = """  <dmndi:DMNDI>
    <dmndi:DMNDiagram id="DMNDiagram_1">
      <dmndi:DMNShape id="DMNShape_1" dmnElementRef="civp_beneficiary_eligibility">
        <dc:Bounds height="80" width="180" x="160" y="100" />
      </dmndi:DMNShape>
    </dmndi:DMNDiagram>
  </dmndi:DMNDI>
</definitions>"""


def _save(web: Web, xml: str) -> list[dict[str, object]]:
    r = web.client().put(
        "/api/v1/definitions/civp/draft",
        headers=web.token("manager"),
        json={"file": FILE, "xml": xml},
    )
    assert r.status_code == 200, r.text
    problems: list[dict[str, object]] = r.json()["problems"]
    return problems


def test_a_drd_layout_is_not_a_change_an_output_is(web: Web) -> None:
    edited = (
        DMN.replace(
            'namespace="https://aqd.tn/processes/civp"',
            'namespace="https://aqd.tn/processes/civp" '
            'xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/" '
            'xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/"',
        )
        .replace("</definitions>", DMNDI)
        .replace('<text>"DURATION_EXHAUSTED"</text>', '<text>"CAP_REACHED"</text>')
    )
    assert _save(web, edited) == []
    diff = web.client().get(
        "/api/v1/definitions/civp/diff", params={"file": FILE}, headers=web.token("manager")
    )
    assert diff.json()["changed"] == ["rule_5_out_1"]
    assert diff.json()["added"] == [] and diff.json()["removed"] == []


def test_an_unsupported_hit_policy_is_a_problem_on_its_table(web: Web) -> None:
    edited = DMN.replace(
        '<decisionTable id="civp_beneficiary_eligibility_table" hitPolicy="FIRST">',
        '<decisionTable id="civp_beneficiary_eligibility_table" hitPolicy="PRIORITY">',
    )
    assert edited != DMN
    problems = _save(web, edited)
    assert [p["element"] for p in problems] == ["civp_beneficiary_eligibility_table"]
    assert "hit policy PRIORITY is not supported" in str(problems[0]["message"])


def test_a_rule_an_earlier_rule_shadows_is_a_problem_on_that_rule(web: Web) -> None:
    # Rule 4 with rule 3's input entries ("-" is an empty cell, as dmn-js shows it).
    edited = (
        DMN.replace(
            '<inputEntry id="rule_4_in_2">\n          <text>"OTHER"</text>',
            '<inputEntry id="rule_4_in_2">\n          <text>? in ("HIGHER_ED", "BTS")</text>',
        )
        .replace(
            '<inputEntry id="rule_4_in_3">\n          <text></text>',
            '<inputEntry id="rule_4_in_3">\n          <text>False</text>',
        )
        .replace(
            '<inputEntry id="rule_4_in_5">\n          <text>False</text>',
            '<inputEntry id="rule_4_in_5">\n          <text>-</text>',
        )
    )
    assert edited.count('? in ("HIGHER_ED", "BTS")') == 2
    problems = _save(web, edited)
    assert [p["element"] for p in problems] == ["rule_4"]
    assert "rule never matches: rule rule_3 above it" in str(problems[0]["message"])
    # As a COLLECT table both rules apply: no problem.
    collect = edited.replace(
        '<decisionTable id="civp_beneficiary_eligibility_table" hitPolicy="FIRST">',
        '<decisionTable id="civp_beneficiary_eligibility_table" hitPolicy="COLLECT">',
    )
    assert collect != edited
    assert _save(web, collect) == []
