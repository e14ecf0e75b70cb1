"""Standard DMN (issue 20 item 5): every decision file of ``processes/`` validates against the
OMG's DMN 1.3 schema (shipped in tests/data/dmn13, source and hashes in its README), every table
declares its hit policy, and Aqd evaluates FIRST as the standard says (the first matching rule,
the later ones never evaluated). The number of rules matching each decision test case is
checked against the declared policy by tests/helpers/decisions.py, which the decision tests
use."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from engine.errors import ProcessError
from engine.runtime.decisions import decide
from engine.runtime.sandbox import Sandbox
from tests.conftest import ROOT
from tests.helpers.decisions import DMN, decisions, sources

SCHEMAS = ROOT / "tests" / "data" / "dmn13"
FILES = sorted((ROOT / "processes").glob("*/*.dmn"))
PROGRAMMES = sorted(p.name for p in (ROOT / "processes").iterdir() if p.is_dir())


def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "DMN13.xsd"), parser))


def test_the_shipped_schemas_are_the_ones_the_readme_names() -> None:
    readme = (SCHEMAS / "README.md").read_text()
    listed = dict(re.findall(r"\| `([A-Za-z0-9]+\.xsd)` \| `[^`]+` \| `([0-9a-f]{64})` \|", readme))
    assert sorted(listed) == ["DC.xsd", "DI.xsd", "DMN13.xsd", "DMNDI13.xsd"]
    for name, digest in listed.items():
        assert hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest() == digest, name


def test_there_are_decision_files_to_check() -> None:
    assert len(FILES) >= 16 and {f.parent.name for f in FILES} == set(PROGRAMMES)


@pytest.mark.parametrize("path", FILES, ids=[f"{f.parent.name}/{f.name}" for f in FILES])
def test_every_decision_file_is_valid_dmn_13(path: Path) -> None:
    xsd = schema()
    document = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    assert xsd.validate(document), str(xsd.error_log)[:2000]


def test_the_schema_refuses_what_the_standard_does_not_allow() -> None:
    """The check can fail: an unknown hit policy, an output entry before the input entries."""
    xsd = schema()
    text = (ROOT / "processes" / "civp" / "civp_primo.dmn").read_text()
    unknown = text.replace('hitPolicy="FIRST"', 'hitPolicy="SOMETIMES"', 1)
    assert "SOMETIMES" in unknown
    assert not xsd.validate(etree.fromstring(unknown.encode()))
    assert "hitPolicy" in str(xsd.error_log)
    swapped = re.sub(
        r"(<inputEntry .*?</inputEntry>)(\s*)(<outputEntry .*?</outputEntry>)",
        r"\3\2\1",
        text,
        count=1,
        flags=re.S,
    )
    assert swapped != text
    assert not xsd.validate(etree.fromstring(swapped.encode()))


@pytest.mark.parametrize("programme", PROGRAMMES)
def test_every_table_declares_its_hit_policy(programme: str) -> None:
    """UNIQUE where the rules are disjoint (the amounts), FIRST where their order decides."""
    found = decisions(programme)
    assert found
    for decision_id, (file, policy) in found.items():
        assert policy in {"UNIQUE", "FIRST", "COLLECT"}, f"{file}: {decision_id} declares none"
        if file.endswith(("_stipend.dmn", "_allowance.dmn", "_reimbursement.dmn", "_premium.dmn")):
            assert policy == "UNIQUE", f"{decision_id}: an amount table has disjoint rules"
    for file, text in sources(programme).items():
        if file.endswith(".dmn"):
            root = etree.fromstring(text.encode())
            tables = list(root.iter(f"{DMN}decisionTable"))
            assert tables and all(t.get("hitPolicy") for t in tables), file


FIRST_TABLE = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="t">
  <decision id="order" name="order">
    <decisionTable id="order_table" hitPolicy="FIRST">
      <input id="in_x" label="x"><inputExpression id="in_x_expr" typeRef="integer">
        <text>x</text></inputExpression></input>
      <output id="out_r" label="r" name="r" typeRef="string"/>
      <rule id="first"><inputEntry id="first_in"><text>&gt; 0</text></inputEntry>
        <outputEntry id="first_out"><text>"positive"</text></outputEntry></rule>
      <rule id="second"><inputEntry id="s_in"><text>? &gt; params["missing"]</text></inputEntry>
        <outputEntry id="second_out"><text>"never read"</text></outputEntry></rule>
      <rule id="third"><inputEntry id="third_in"><text></text></inputEntry>
        <outputEntry id="third_out"><text>"other"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""


def test_first_stops_at_the_first_matching_rule() -> None:
    """A FIRST table answers with its first matching rule and never evaluates the next ones
    (here, one that reads a parameter nobody set); evaluated as COLLECT, it does and fails."""
    at = datetime(2025, 3, 1, tzinfo=UTC)
    table = {"order.dmn": FIRST_TABLE}
    result = decide(table, "order", {"x": 3, "params": {}}, Sandbox(), at)
    assert (result.outputs, [m["rule"] for m in result.matched]) == ({"r": "positive"}, ["first"])
    collect = {"order.dmn": FIRST_TABLE.replace('"FIRST"', '"COLLECT"')}
    with pytest.raises(ProcessError, match="in order"):
        decide(collect, "order", {"x": 3, "params": {}}, Sandbox(), at)
    assert schema().validate(etree.fromstring(FIRST_TABLE.encode()))
