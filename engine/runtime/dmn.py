"""Decision tables evaluated as their hit policy says (issue 20 item 5).

SpiffWorkflow 3.2 knows UNIQUE and COLLECT (``SpiffWorkflow.dmn.specs.model.HitPolicy``; FIRST
is commented out there): its UNIQUE returns the first rule that matches without checking that
no other does, and any other policy name is evaluated by matching *every* rule and returning
the first one's outputs. Aqd's tables declare FIRST where the order of the rules decides, so
FIRST stops at the first match here, as the DMN standard describes it: the rules after it are
never evaluated (a later rule may read a parameter or a fact that has no value for the case).
Deploy accepts UNIQUE, FIRST and COLLECT (``engine.runtime.definitions``); the tests check, case
by case, that a UNIQUE table's rules are disjoint.

Both ways a table reaches SpiffWorkflow use the engine below: the parser (deploy, ``aqd
decide``) and the serializer (the deployed specs every contract loads).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.task_spec import BusinessRuleTaskConverter

FIRST = "FIRST"


class HitPolicyEngine(DMNEngine):  # type: ignore[misc]
    """SpiffWorkflow's DMN engine, with FIRST evaluated as the first matching rule only."""

    def decide(self, task: Any) -> list[Any]:
        if self.decision_table.hit_policy != FIRST:
            return list(super().decide(task))
        check = self._DMNEngine__check_rule
        for rule in self.decision_table.rules:
            if check(rule, task):
                return [rule]
        return []


class Parser(SpiffBpmnParser):  # type: ignore[misc]
    """SpiffWorkflow's parser whose business rule tasks use :class:`HitPolicyEngine`."""

    def get_engine(self, decision_ref: str, node: Any) -> HitPolicyEngine:
        engine = super().get_engine(decision_ref, node)
        return HitPolicyEngine(engine.decision_table)


class RuleTaskConverter(BusinessRuleTaskConverter):  # type: ignore[misc]
    """Restores a business rule task with :class:`HitPolicyEngine` (deployed specs)."""

    def from_dict(self, dct: dict[str, Any]) -> Any:
        spec = super().from_dict(dct)
        spec.dmnEngine = HitPolicyEngine(spec.dmnEngine.decision_table)
        return spec
