"""Evaluate a programme's decision on one case as a contract does, and check the number of
rules that match against the table's declared hit policy (issue 20 item 5): evaluated a second
time as COLLECT, a UNIQUE table has at most one matching rule (exactly the one that answered),
a FIRST table answers with the first of the rules that match."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from engine.errors import ProcessError
from engine.kernel.planning import resolve_parameters
from engine.runtime.decisions import decide
from engine.runtime.definitions import read_sources
from engine.runtime.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent.parent
DMN = "{https://www.omg.org/spec/DMN/20191111/MODEL/}"
_SANDBOX = Sandbox()


@cache
def sources(programme: str) -> dict[str, str]:
    return read_sources(ROOT / "processes" / programme)[1]


def decisions(programme: str) -> dict[str, tuple[str, str]]:
    """decision id -> (its file, its table's declared hit policy, or "" if none)."""
    found: dict[str, tuple[str, str]] = {}
    for name, text in sorted(sources(programme).items()):
        if not name.endswith(".dmn"):
            continue
        root = etree.fromstring(text.encode())
        for decision in root.iter(f"{DMN}decision"):
            table = decision.find(f"{DMN}decisionTable")
            policy = table.get("hitPolicy", "") if table is not None else ""
            found[decision.get("id", "")] = (name, policy)
    return found


@dataclass
class Answer:
    outputs: dict[str, Any]
    matched: list[str]  # the rules the declared policy used
    applying: list[str]  # every rule whose inputs match (the table evaluated as COLLECT)
    policy: str


def evaluate(programme: str, decision_id: str, case: dict[str, Any], on: date) -> Answer:
    """The decision on ``case`` with the parameters in force on ``on``; asserts that the rules
    that match agree with the declared hit policy."""
    texts = sources(programme)
    file, policy = decisions(programme)[decision_id]
    at = datetime(on.year, on.month, on.day, 12, tzinfo=UTC)
    data = {**case, "params": resolve_parameters(json.loads(texts["parameters.json"]), at)}
    result = decide(texts, decision_id, data, _SANDBOX, at)
    collect = re.sub(r'hitPolicy="[A-Z]+"', 'hitPolicy="COLLECT"', texts[file], count=1)
    try:
        every = decide({**texts, file: collect}, decision_id, data, _SANDBOX, at)
        applying = [m["rule"] for m in every.matched]
    except ProcessError:
        # a rule after the first match reads what the case or the day lacks (a FIRST table
        # never evaluates it): ask the rules one by one, those that fail do not apply
        applying = rules_one_by_one(texts, file, decision_id, data, at)
    answer = Answer(result.outputs, [m["rule"] for m in result.matched], applying, policy)
    check_hit_policy(answer)
    return answer


def rules_one_by_one(
    texts: dict[str, str], file: str, decision_id: str, data: dict[str, Any], at: datetime
) -> list[str]:
    root = etree.fromstring(texts[file].encode())
    table = root.find(f".//{DMN}decisionTable")
    assert table is not None
    table.set("hitPolicy", "COLLECT")
    rules = list(table.iter(f"{DMN}rule"))
    applying = []
    for keep in rules:
        for rule in rules:
            if rule is not keep and rule.getparent() is not None:
                table.remove(rule)
        if keep.getparent() is None:
            table.append(keep)
        single = etree.tostring(root, encoding="unicode")
        try:
            if decide({**texts, file: single}, decision_id, data, _SANDBOX, at).matched:
                applying.append(str(keep.get("id")))
        except ProcessError:
            continue
    return applying


def check_hit_policy(answer: Answer) -> None:
    if answer.policy == "UNIQUE":
        assert len(answer.applying) <= 1, f"UNIQUE table, rules {answer.applying} all match"
        assert answer.matched == answer.applying
    elif answer.policy == "FIRST":
        assert answer.matched == answer.applying[:1], (answer.matched, answer.applying)
    else:
        raise AssertionError(f"hit policy {answer.policy!r} is not UNIQUE or FIRST")
