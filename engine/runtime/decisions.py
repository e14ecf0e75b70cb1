"""Evaluate one DMN decision of a deployed programme on one case, without starting a contract.

The decision runs exactly as inside a contract: the same SpiffWorkflow DMN engine, the same
sandboxed script engine and the programme's parameters in force on the chosen date, driven by a
one-task process generated here around the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from engine.errors import InvalidInput, NotFound, ProcessError
from engine.runtime import context
from engine.runtime.dmn import Parser
from engine.runtime.sandbox import Sandbox
from engine.runtime.workflow import ScriptEngine, sandbox_cause

_PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="aqd_decide_defs"
  targetNamespace="https://aqd.tn/decide">
  <bpmn:process id="aqd_decide" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>
    <bpmn:businessRuleTask id="decide"><bpmn:extensionElements>
      <spiffworkflow:calledDecisionId>{decision}</spiffworkflow:calledDecisionId>
    </bpmn:extensionElements><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f2" sourceRef="decide" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


@dataclass
class Decision:
    """The outputs of a decision on one case, and the rules that matched."""

    decision: str
    outputs: dict[str, Any]
    matched: list[dict[str, str]]


def _parser(sources: dict[str, str]) -> Parser:
    parser = Parser()
    xml = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    for name, text in sorted(sources.items()):
        if name.endswith(".dmn"):
            parser.add_dmn_xml(etree.fromstring(text.encode("utf-8"), xml), filename=name)
    return parser


def decide(
    sources: dict[str, str],
    decision_id: str,
    data: dict[str, Any],
    sandbox: Sandbox,
    at: datetime,
) -> Decision:
    """Evaluate ``decision_id`` (a DMN decision of ``sources``) on ``data``."""
    if not decision_id.replace("_", "").replace("-", "").isalnum():
        raise InvalidInput(f"invalid decision id {decision_id!r}")
    parser = _parser(sources)
    if decision_id not in parser.dmn_parsers:
        known = ", ".join(sorted(parser.dmn_parsers)) or "none"
        raise NotFound(f"decision {decision_id!r} not found (decisions: {known})")
    parser.add_bpmn_str(_PROCESS.format(decision=decision_id).encode(), filename="decide.bpmn")
    wf = BpmnWorkflow(parser.get_spec("aqd_decide"), script_engine=ScriptEngine(sandbox))
    wf.get_tasks(state=TaskState.READY)[0].set_data(**data)
    with context.command_context(at, "decide"):
        try:
            while True:
                ready = wf.get_tasks(state=TaskState.READY)
                rule_task = next((t for t in ready if t.task_spec.bpmn_id == "decide"), None)
                if rule_task is not None or not ready:
                    break
                for task in ready:
                    task.run()
            if rule_task is None:
                raise ProcessError(f"decision {decision_id} was never reached")
            engine = rule_task.task_spec.dmnEngine
            matched = [
                {"rule": rule.id, "description": rule.description or ""}
                for rule in engine.decide(rule_task)
            ]
            outputs = engine.result(rule_task)
        except SpiffWorkflowException as exc:
            violation = sandbox_cause(exc)
            message = violation.message if violation else str(exc).splitlines()[0]
            raise ProcessError(f"{message} in {decision_id}", element=decision_id) from None
    return Decision(decision=decision_id, outputs=dict(outputs), matched=matched)
