"""Simulation (issue 7 item 4): a CIVP draft run on sample cases whose paths and decision outputs
are known (the eligibility decision's cases, an employer below the insertion rate, a case taken
through agreement, validation and the three signatures), in memory: no contract, no event."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from engine.access.accounts import Principal
from engine.definitions import drafts as modeller
from engine.definitions import simulation
from engine.errors import DefinitionInvalid, NotPermitted
from engine.kernel.signature_events import SIGNING_PARTIES, signature_result
from engine.models import Contract, DefinitionDraft, Event, Outbox
from tests.conftest import AGREEMENT, ROOT, World

MANAGER = Principal(1, "manager", "Manager", "fr", frozenset({"programme_manager"}))
CIVP = (ROOT / "processes" / "civp" / "civp.bpmn").read_text(encoding="utf-8")
# The draft adds a step between the preparation and the first decision.
PRIMO_IN = "<bpmn:incoming>{}</bpmn:incoming>\n      <bpmn:outgoing>f_primo_elig</bpmn:outgoing>"
DRAFT = CIVP.replace(
    '<bpmn:sequenceFlow id="f_init_elig" sourceRef="init" targetRef="primo"/>',
    '<bpmn:sequenceFlow id="f_init_elig" sourceRef="init" targetRef="check_quota"/>'
    '<bpmn:scriptTask id="check_quota" name="Check the regional quota">'
    "<bpmn:incoming>f_init_elig</bpmn:incoming><bpmn:outgoing>f_quota_primo</bpmn:outgoing>"
    "<bpmn:script>quota_checked = True</bpmn:script></bpmn:scriptTask>"
    '<bpmn:sequenceFlow id="f_quota_primo" sourceRef="check_quota" targetRef="primo"/>',
).replace(
    PRIMO_IN.format("f_init_elig"),
    PRIMO_IN.format("f_quota_primo"),
)
REQUEST: dict[str, Any] = {
    "office": "TUN",
    "employer_mf": "1234567A",
    "beneficiary_cin": "12345678",
    "nationality": "TN",
    "diploma_level": "HIGHER_ED",
    "request_date": "2025-03-01",
}
REFUSED = ["gw_eligible", "mark_ineligible", "end_ineligible"]


def _case(name: str, steps: list[dict[str, Any]] | None = None, **data: Any) -> dict[str, Any]:
    return {"name": name, "data": {**REQUEST, **data}, "steps": steps or []}


def _rows(world: World) -> tuple[int, int, int]:
    with world.aqd.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Contract)) or 0,
            s.scalar(select(func.count()).select_from(Event)) or 0,
            s.scalar(select(func.count()).select_from(Outbox)) or 0,
        )


def test_a_civp_draft_on_sample_cases(world: World) -> None:
    assert DRAFT.count("check_quota") == 3 and DRAFT.count("f_quota_primo") == 3
    modeller.save_draft(world.aqd, MANAGER, "civp", "civp.bpmn", DRAFT)
    before = _rows(world)
    signed = [
        {"task": "employer_agreement", "data": AGREEMENT},
        {"task": "counsellor_validation", "data": {"validation_decision": "validate"}},
        *({"message": "signature_result", "payload": signature_result(p)} for p in SIGNING_PARTIES),
    ]
    low_rate = {"completed": 5, "inserted": 1, "rate": 0.2, "months_since_last_end": 3}
    cases = [
        _case("foreign national", nationality="OTHER"),
        _case("not registered at an office", registered_at_office=False),
        _case("graduate, not a first-time job seeker", months_worked_continuous=30),
        _case("employer below the insertion rate", employer_record=low_rate),
        _case("eligible, agreed, validated and signed", signed),
        _case(
            "eligible, returned for correction",
            [
                signed[0],
                {
                    "task": "counsellor_validation",
                    "data": {"validation_decision": "return", "return_reason": "Pièce manquante"},
                },
            ],
        ),
        _case("a step that is not ready", [signed[1]]),
        _case("never signed", [*signed[:2], {"wait": "P6D"}, {"wait": "P9D"}]),
    ]
    result = simulation.simulate(world.aqd, MANAGER, "civp", cases)
    assert result["drafts"] == ["civp.bpmn"] and result["version"] == 1
    runs = {run["name"]: run for run in result["cases"]}
    head = ["start", "init", "check_quota", "primo", "eligibility"]

    foreign = runs["foreign national"]
    assert foreign["status"] == "completed" and foreign["path"] == head + REFUSED
    assert foreign["decisions"][1] == {
        "element": "eligibility",
        "decision": "civp_beneficiary_eligibility",
        "outputs": {
            "eligible": False,
            "reason": "NATIONALITY",
            "legal_basis": foreign["decisions"][1]["outputs"]["legal_basis"],
        },
    }
    assert foreign["data"]["contract_status"] == "rejected" and foreign["data"]["quota_checked"]
    assert runs["not registered at an office"]["path"] == head + REFUSED
    assert runs["not registered at an office"]["data"]["rejection_reason"] == "NOT_REGISTERED"
    not_primo = runs["graduate, not a first-time job seeker"]
    assert not_primo["decisions"][0]["outputs"]["is_primo"] is False
    assert not_primo["data"]["rejection_reason"] == "NOT_PRIMO"

    employer = runs["employer below the insertion rate"]
    assert employer["path"] == [
        *head,
        "gw_eligible",
        "employer_eligibility",
        "gw_employer",
        "mark_employer_ineligible",
        "end_employer_ineligible",
    ]
    assert employer["decisions"][-1]["decision"] == "civp_employer_eligibility"
    assert employer["decisions"][-1]["outputs"]["employer_eligible"] is False
    assert employer["decisions"][-1]["outputs"]["employer_reason"] == "INSERTION_RATE"

    active = runs["eligible, agreed, validated and signed"]
    assert active["error"] is None and active["status"] == "waiting"
    path = active["path"]
    order = ["employer_agreement", "counsellor_validation", "gw_decision", "sign_beneficiary"]
    assert [path.index(e) for e in order] == sorted(path.index(e) for e in order)
    assert "activate" in path and "mark_rejected" not in path
    assert active["decisions"][2]["outputs"]["employer_reason"] == "NO_HISTORY"
    assert active["thrown"].count("signature_request") == 3
    assert "terminate_contract" in active["waiting_messages"]
    assert active["data"]["contract_status"] == "active"

    returned = runs["eligible, returned for correction"]
    assert returned["waiting_tasks"] == ["employer_agreement"]
    assert returned["path"].count("employer_agreement") == 1 and "activate" not in returned["path"]

    stuck = runs["a step that is not ready"]
    assert stuck["status"] == "error" and "counsellor_validation is not ready" in stuck["error"]
    assert stuck["path"][-1] == "agreement_start" and stuck["waiting_tasks"] == [
        "employer_agreement"
    ]

    # time passes on the simulated clock: the reminder after 5 days, the deadline after 14
    late = runs["never signed"]
    assert late["status"] == "completed" and late["ended_on"] == "2025-03-18"
    assert late["thrown"] == ["signature_request", "signature_reminder", "signing_closed"]
    reminder, deadline = (
        late["path"].index("remind_beneficiary"),
        late["path"].index("sign_deadline"),
    )
    assert late["path"].index("request_beneficiary") < reminder < deadline
    assert late["data"]["contract_status"] == "expired" and "activate" not in late["path"]
    for wait in ("P", "P99999999999D", "soon"):
        odd = simulation.simulate(world.aqd, MANAGER, "civp", [_case("odd", [{"wait": wait}])])
        assert "is not like P5D" in odd["cases"][0]["error"], wait

    assert _rows(world) == before  # nothing was started, logged or queued

    deployed = simulation.simulate(world.aqd, MANAGER, "civp", cases[:1], drafts=False)
    assert deployed["drafts"] == [] and "check_quota" not in deployed["cases"][0]["path"]


def test_bad_drafts_and_callers_are_refused(world: World) -> None:
    case = [_case("graduate")]
    with pytest.raises(NotPermitted):
        counsellor = Principal(2, "c", "C", "fr", frozenset({"counsellor"}))
        simulation.simulate(world.aqd, counsellor, "civp", case)
    broken = DRAFT.replace("quota_checked = True", "quota_checked = ().__class__")
    modeller.save_draft(world.aqd, MANAGER, "civp", "civp.bpmn", broken)
    with pytest.raises(DefinitionInvalid) as refused:
        simulation.simulate(world.aqd, MANAGER, "civp", case)
    assert refused.value.problems[0].element == "check_quota"
    with world.aqd.session() as s:
        assert s.scalar(select(func.count()).select_from(DefinitionDraft)) == 1
    invalid = simulation.simulate(
        world.aqd, MANAGER, "civp", [{"name": "no office", "data": {"nationality": "TN"}}], False
    )
    assert invalid["cases"][0]["status"] == "error" and invalid["cases"][0]["path"] == []
