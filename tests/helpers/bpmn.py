"""Small BPMN models written inline, and the problems a deploy check finds in them."""

from __future__ import annotations

import pytest

from engine import DefinitionInvalid
from engine.runtime.definitions import compile_bundle
from engine.runtime.sandbox import Sandbox

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
"""


def model(body: str, executable: str = "true", pid: str = "simple") -> str:
    return (
        HEAD
        + f'  <bpmn:process id="{pid}" isExecutable="{executable}">\n'
        + body
        + "\n  </bpmn:process>\n</bpmn:definitions>\n"
    )


SIMPLE = """    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="script"/>
    <bpmn:scriptTask id="script"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>"""


def problems(sources: dict[str, str], programme: str = "simple") -> list[str]:
    with pytest.raises(DefinitionInvalid) as info:
        compile_bundle(programme, sources, Sandbox())
    return [str(p) for p in info.value.problems]
