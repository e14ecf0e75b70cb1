"""Contracts: the caller's list, one contract with its steps, documents, payments and history,
the actions its parties may take now, its state and diagram at any event, its verification,
and an employer's request for a new one (``/api/v1/contracts``, ``/programmes``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CallerDep
from api.deps import AqdDep, ReadSession
from api.i18n import reason_labels
from api.v1.schemas import AUTHED, Labels, Out, Recorded, V1Router, errors, recorded
from engine import inbox
from engine.access import scope
from engine.audit import replay
from engine.commands import contract_actions
from engine.definitions import diagram

router = V1Router(tags=["api"], responses=errors(400, 422))

PAGE = Annotated[int, Query(ge=1, le=100_000)]
PER_PAGE = Annotated[int, Query(ge=1, le=inbox.PER_PAGE_MAX)]
SHORT = Annotated[str | None, Query(max_length=100)]


# -- requests -------------------------------------------------------------------------------------


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(description="the task form's fields (see GET /forms/...)")
    expected_revision: int | None = Field(
        default=None, ge=0, description="fail with 409 if the contract moved since you read it"
    )


class ContractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    programme: str = Field(min_length=1, max_length=64)
    beneficiary_cin: str = Field(default="", pattern=r"^([0-9]{8})?$")
    birth_date: date | None = Field(
        default=None, description="the job seeker's date of birth, with the CIN"
    )
    registration_number: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="the job seeker's registration number, instead of CIN and date of birth",
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="the position and terms (start-form fields the registry does not own: a "
        "registry fact such as `disabled` or `request_date` is refused with 422 naming it)",
    )


# -- responses ------------------------------------------------------------------------------------


class TaskItem(Out):
    """A ready step in an inbox."""

    guid: str
    step: str = Field(description="the BPMN id of the user task")
    name: str
    programme: str
    lane: str
    form_key: str
    status: str
    assignee: str | None
    contract_id: int
    contract_number: str
    beneficiary: str | None
    beneficiary_cin: str | None
    employer: str | None
    ready_at: str = Field(description="ISO 8601")
    due_at: str | None = Field(description="ISO 8601")
    overdue: bool


class OpenTask(TaskItem):
    actionable: bool = Field(description="the caller may claim or complete it")


class ContractItem(Out):
    id: int
    number: str
    programme: str
    status: str
    outcome: str | None
    office: str | None = Field(description="the office's code")
    employer: str | None
    beneficiary: str | None
    beneficiary_cin: str | None
    revision: int
    started_at: str = Field(description="ISO 8601")
    ended_at: str | None = Field(description="ISO 8601")


class ContractPage(Out):
    items: list[ContractItem]
    total: int
    page: int
    per_page: int
    pages: int


class StoredDocument(Out):
    id: int
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: str = Field(description="ISO 8601")


class Payment(Out):
    period: str = Field(description="YYYY-MM")
    kind: str
    payee: str = Field(description="beneficiary or employer")
    amount: float = Field(description="TND")
    status: str
    reject_reason: str | None
    settled_at: str | None = Field(description="ISO 8601, when the bank reported it paid")


class HistoryEvent(Out):
    seq: int
    kind: str
    actor: str | None = Field(description="shown to staff only")
    at: str = Field(description="ISO 8601")
    step: str | None
    data: dict[str, Any] = Field(
        default_factory=dict, description="staff only: the submitted form, or a reassignment"
    )
    hash: str = Field(default="", description="staff only: the event's chain hash")


class ContractDetail(ContractItem):
    employer_mf: str | None
    office_name: Labels | None
    open_tasks: list[OpenTask]
    documents: list[StoredDocument]
    payments: list[Payment] = Field(description="those the caller may see")
    events: list[HistoryEvent]


class Action(Out):
    key: str
    message: str = Field(description="the BPMN message the action correlates")
    party: str
    form_key: str
    form: dict[str, Any] = Field(description="the action form's JSON Schema")


class ContractActions(Out):
    contract_id: int
    status: str
    revision: int
    actions: list[Action]


class InstanceState(Out):
    """One process instance of the contract at an event."""

    process: str
    completed: bool
    ready: list[str]
    waiting_for: list[str]
    next_due_at: str | None
    data: dict[str, Any] = Field(description="the instance's workflow data")
    elements: dict[str, str] = Field(description="BPMN element id -> completed, ready, …")


class DataDiff(Out):
    added: dict[str, Any]
    changed: dict[str, dict[str, Any]] = Field(description="key -> {before, after}")
    removed: list[str]


class ContractState(Out):
    seq: int
    kind: str
    at: str
    actor: str
    payload: Any = Field(description="the event's payload")
    instances: dict[str, InstanceState] = Field(description="instance key -> its state")
    changes: dict[str, DataDiff] = Field(description="what the event changed, per instance")
    decisions: list[dict[str, Any]] = Field(
        description="the DMN decisions the event evaluated: inputs, matched rules, outputs"
    )


class ContractDiagram(Out):
    contract: str
    seq: int
    instance: str
    process: str
    instances: list[str]
    xml: str = Field(description="BPMN 2.0 XML of the process")
    states: dict[str, str] = Field(description="BPMN element id -> completed, ready, …")
    hours: dict[str, float] = Field(description="hours each completed human step took")


class ReplayReport(Out):
    contract_id: int
    number: str
    events: int
    ok: bool
    first_divergent_seq: int | None
    problems: list[str]
    signatures_validated: int
    anchored: dict[str, Any] | None = Field(
        description="the latest anchored head the history reaches: seq, anchor, anchored_at"
    )


class RequestAnswer(Out):
    """The same answer whether or not a job seeker matched: nothing about the person."""

    reference: str
    programme: str
    status: str = Field(description="awaiting_acceptance")


class RequestRow(Out):
    reference: str
    programme: str
    status: str = Field(description="awaiting_acceptance, accepted, declined or refused")
    reason: str | None = Field(description="the reason code of a refusal")
    reason_label: Labels | None = Field(default=None, description="the reason in ar and fr")
    terms: dict[str, Any]
    created_at: str = Field(description="ISO 8601")
    decided_at: str | None = Field(description="ISO 8601")
    contract_number: str | None = Field(description="once the job seeker accepted")
    employer: str | None = Field(description="the company (shown to the job seeker)")


class Programme(Out):
    programme: str
    name: Labels
    version: int
    start_form: str


# -- endpoints ------------------------------------------------------------------------------------


@router.get("/contracts", response_model=ContractPage, responses=AUTHED)
def contracts(
    caller: CallerDep,
    s: ReadSession,
    programme: SHORT = None,
    status: SHORT = None,
    q: SHORT = None,
    page: PAGE = 1,
    per_page: PER_PAGE = 50,
) -> dict[str, Any]:
    """Contracts in the caller's scope; ``q`` searches number, CIN or employer."""
    return inbox.list_contracts(
        s,
        caller.principal,
        programme=programme,
        status=status,
        q=q,
        page=page,
        per_page=per_page,
    ).to_dict()


@router.get("/contracts/{ref}", response_model=ContractDetail, responses=errors(401, 403, 404, 422))
def contract(ref: str, caller: CallerDep, aqd: AqdDep, s: ReadSession) -> dict[str, Any]:
    """One contract (by id or number) with its open steps and history (scoped)."""
    found = scope.visible_contract(s, caller.principal, ref)
    return inbox.contract_detail(s, caller.principal, found, aqd.clock.now())


@router.get(
    "/contracts/{ref}/actions",
    response_model=ContractActions,
    responses=errors(401, 403, 404, 422),
)
def contract_actions_list(ref: str, caller: CallerDep, s: ReadSession) -> dict[str, Any]:
    """What the caller may do to this contract now — suspend, resume, end early, ask for an
    extension — each with its form's JSON Schema (Arabic and French labels)."""
    found = scope.visible_contract(s, caller.principal, ref)
    return {
        "contract_id": found.id,
        "status": found.status,
        "revision": found.revision,
        "actions": contract_actions.available(s, caller.principal, found),
    }


@router.post(
    "/contracts/{ref}/actions/{key}",
    response_model=Recorded,
    responses=errors(401, 403, 404, 409, 422),
)
def contract_action(
    ref: str,
    key: Annotated[str, Path(max_length=40)],
    body: CompleteRequest,
    caller: CallerDep,
    aqd: AqdDep,
) -> dict[str, Any]:
    """Take one of the contract's actions (``GET .../actions`` lists them): 403 when the
    caller is not the party who may, 409 when the contract does not accept it now or moved
    since ``expected_revision``, 422 with field errors when the form is wrong."""
    return recorded(
        contract_actions.perform(aqd, caller.principal, ref, key, body.data, body.expected_revision)
    )


@router.get(
    "/contracts/{ref}/state", response_model=ContractState, responses=errors(401, 403, 404, 422)
)
def contract_state(
    ref: str, caller: CallerDep, aqd: AqdDep, s: ReadSession, at: Annotated[int, Query(ge=1)]
) -> dict[str, Any]:
    """The contract right after event ``at``, replayed from its events: each instance's
    data, ready steps and waits, and what that event changed (auditors, office staff)."""
    found = scope.audit_contract(s, caller.principal, ref)
    return replay.state_at(replay.history_of(s, found.id), at, aqd.runner)


@router.get(
    "/contracts/{ref}/diagram",
    response_model=ContractDiagram,
    responses=errors(401, 403, 404, 422),
)
def contract_diagram(
    ref: str,
    caller: CallerDep,
    aqd: AqdDep,
    s: ReadSession,
    at: Annotated[int | None, Query(ge=1)] = None,
    instance: Annotated[str, Query(min_length=1, max_length=64)] = "main",
) -> dict[str, Any]:
    """One process of the contract for the diagram viewer: BPMN source, each element's
    state at event ``at`` (default: now) and the hours each human step took."""
    found = scope.audit_contract(s, caller.principal, ref)
    return diagram.contract_diagram(aqd, s, found, at, instance)


@router.post(
    "/contracts/{ref}/verify", response_model=ReplayReport, responses=errors(401, 403, 404, 422)
)
def verify_contract(ref: str, caller: CallerDep, aqd: AqdDep, s: ReadSession) -> dict[str, Any]:
    """Replay the contract against its pinned definition, check every state hash and the
    hash chain; names the first divergent event (auditors, office staff)."""
    found = scope.audit_contract(s, caller.principal, ref)
    return replay.replay_contract(aqd, s, found.id).to_dict()


def _labelled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        if row["reason"]:
            row["reason_label"] = reason_labels(row["reason"])
    return rows


@router.post(
    "/contract-requests",
    status_code=202,
    response_model=RequestAnswer,
    responses=errors(401, 403, 409, 422, 429),
)
def request_contract(body: ContractRequest, caller: CallerDep, aqd: AqdDep) -> dict[str, Any]:
    """Request a contract for a job seeker named by CIN and date of birth, or by registration
    number (employer). The answer is the same whether or not the person exists: the request
    awaits the job seeker's acceptance in their account. Look-ups are limited per employer
    (429 with Retry-After). 409 ``company_pending`` while the company's office has not checked
    it (``/api/v1/employer/company``)."""
    return inbox.create_request(
        aqd,
        caller.principal,
        body.programme,
        body.beneficiary_cin,
        body.birth_date,
        body.registration_number,
        body.data,
    )


@router.get("/contract-requests", response_model=list[RequestRow], responses=AUTHED)
def contract_requests(caller: CallerDep, s: ReadSession) -> list[dict[str, Any]]:
    """An employer's requests, or the requests addressed to a job seeker, newest first."""
    if caller.principal.has("beneficiary"):
        return _labelled(inbox.beneficiary_requests(s, caller.principal))
    return _labelled(inbox.employer_requests(s, caller.principal))


@router.post(
    "/contract-requests/{reference}/{decision}",
    response_model=RequestRow,
    responses=errors(401, 403, 404, 409, 422),
)
def decide_contract_request(
    reference: Annotated[str, Path(max_length=36)],
    decision: Literal["accept", "decline"],
    caller: CallerDep,
    aqd: AqdDep,
) -> dict[str, Any]:
    """The job seeker accepts (the contract starts on the registry's facts) or declines a
    request addressed to them. 409 ``request_refused`` with the reason code (and its Arabic and
    French text) when a duplicate or cumulation rule refuses it; the refusal stays on the
    request, where the employer sees it."""
    row = inbox.decide_request(aqd, caller.principal, reference, decision == "accept")
    return _labelled([row])[0]


@router.get("/programmes", response_model=list[Programme], responses=AUTHED)
def programmes(caller: CallerDep, aqd: AqdDep, s: ReadSession) -> list[dict[str, Any]]:
    """Programmes open for contract requests (any role)."""
    return inbox.programmes_open_for_requests(s, aqd.clock.now())
