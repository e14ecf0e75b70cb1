"""Hostile models are refused at validation (``aqd deploy`` and the modeller's save run the same
checks) with a clear message naming the file, the element and the line: an external entity, a
billion-laughs DTD, a script walking dunder attributes, and loops that never end. What static
checks cannot see is stopped at run time by the time limit."""

from __future__ import annotations

import time

import pytest

from engine import DefinitionInvalid, ProcessError
from engine.errors import DefinitionProblem
from engine.runtime.definitions import compile_bundle
from engine.runtime.sandbox import Sandbox
from engine.runtime.workflow import Runner, Specs

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
{doctype}<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  id="d" targetNamespace="t">
  <bpmn:process id="hostile" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare"/>
    <bpmn:scriptTask id="prepare"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="f_no"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f_yes</bpmn:outgoing><bpmn:outgoing>f_no</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="end">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f_yes</bpmn:incoming>
      <bpmn:incoming>f_no</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def _xml(doctype: str = "", script: str = "x = 1", condition: str = "x == 1") -> str:
    escape = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
    return MODEL.format(
        doctype=doctype,
        script="".join(escape.get(c, c) for c in script),
        condition="".join(escape.get(c, c) for c in condition),
    )


def _refused(xml: str) -> DefinitionProblem:
    started = time.perf_counter()
    with pytest.raises(DefinitionInvalid) as info:
        compile_bundle("hostile", {"hostile.bpmn": xml}, Sandbox(0.3))
    assert time.perf_counter() - started < 2
    return info.value.problems[0]


def test_the_plain_model_runs() -> None:
    sandbox = Sandbox(0.3)
    bundle = compile_bundle("hostile", {"hostile.bpmn": _xml()}, sandbox)
    wf, _ = Runner(sandbox).new(Specs(bundle.specs["hostile"]), {})
    assert wf.completed


def test_external_entity_refused() -> None:
    problem = _refused(_xml('<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'))
    assert "DTDs and entity declarations are not allowed" in problem.message
    assert problem.file == "hostile.bpmn" and problem.line == 2


def test_billion_laughs_refused() -> None:
    laughs = (
        '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>\n'
    )
    problem = _refused(_xml(laughs))
    assert "DTDs and entity declarations are not allowed" in problem.message
    assert problem.line == 2


def test_script_walking_dunders_refused() -> None:
    script = "x = 1\nos = ().__class__.__base__.__subclasses__()"
    problem = _refused(_xml(script=script))
    assert problem.element == "prepare"
    assert problem.line > 0
    assert "__class__" in problem.message and "_" in problem.message


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        # Loops inside C code (the run-time time limit cannot interrupt them).
        ("[any(map(l.append, l)) for l in [[0]]]", '"append" may only be called'),
        ("any(filter(None, map(l.extend, [l]))) or [l for l in [[0]]]", '"extend" may only'),
        # Python-level loops that grow what they iterate over.
        ("[l.append(0) for l in [[0]] for x in l]", 'grows "l" while looping over it'),
    ],
)
def test_condition_that_never_ends_refused(condition: str, reason: str) -> None:
    problem = _refused(_xml(condition=condition))
    assert problem.element == "f_yes"
    assert problem.line > 0
    assert reason in problem.message


@pytest.mark.parametrize(
    "script",
    [
        "x = 1\nwhile True:\n    x += 1",
        "x = 1\nitems = [1]\nfor i in items:\n    items.append(i)",
        "x = 1\nitems = [1]\nfor i in items:\n    items += [i]",
    ],
)
def test_script_that_never_ends_refused(script: str) -> None:
    problem = _refused(_xml(script=script))
    assert problem.element == "prepare"
    assert problem.line >= 2
    assert "never ends" in problem.message


def test_what_static_checks_miss_is_stopped_by_the_time_limit() -> None:
    # An alias hides the growing list from the static check; the comprehension runs in Python,
    # so the per-thread time limit stops it and names the element.
    condition = "[m.append(0) for l in [[0]] for m in [l] for x in l]"
    sandbox = Sandbox(0.3)
    bundle = compile_bundle("hostile", {"hostile.bpmn": _xml(condition=condition)}, sandbox)
    started = time.perf_counter()
    with pytest.raises(ProcessError) as info:
        Runner(sandbox).new(Specs(bundle.specs["hostile"]), {})
    assert time.perf_counter() - started < 3
    assert "time limit exceeded" in str(info.value)
    assert info.value.element in ("gw", "f_yes")
