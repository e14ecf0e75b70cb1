"""Contracts as a principal sees them: lists, rows, the detail page's data and its events, and
the contract requests of employers (the programmes open to them, the start form).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from engine import forms_bridge
from engine.access.accounts import Principal
from engine.access.scope import can_act, contract_scope, visible_task
from engine.inbox.documents import contract_documents
from engine.inbox.tasks import PER_PAGE_MAX, Page, search_condition, task_row
from engine.kernel.planning import resolve_parameters
from engine.models import (
    Beneficiary,
    Contract,
    Employer,
    Event,
    HumanTask,
    Office,
    PaymentOrder,
    ProcessDefinition,
)
from engine.registry import REGISTRY_FACTS


def list_contracts(
    session: Session,
    principal: Principal,
    *,
    programme: str | None = None,
    status: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    per_page = max(1, min(per_page, PER_PAGE_MAX))
    page = max(1, page)
    stmt = (
        select(Contract, Beneficiary, Employer.name, Office.code)
        .outerjoin(Beneficiary, Beneficiary.id == Contract.beneficiary_id)
        .outerjoin(Employer, Employer.id == Contract.employer_id)
        .outerjoin(Office, Office.id == Contract.office_id)
        .where(contract_scope(principal))
    )
    if programme:
        stmt = stmt.where(Contract.programme == programme)
    if status:
        stmt = stmt.where(Contract.status == status)
    if q and q.strip():
        stmt = stmt.where(search_condition(q))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.execute(
        stmt.order_by(Contract.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    items = [contract_row(c, b, e, o) for c, b, e, o in rows]
    return Page(items=items, total=int(total), page=page, per_page=per_page)


def contract_row(
    c: Contract, b: Beneficiary | None, employer_name: str | None, office_code: str | None
) -> dict[str, Any]:
    return {
        "id": c.id,
        "number": c.number,
        "programme": c.programme,
        "status": c.status,
        "outcome": c.outcome,
        "office": office_code,
        "employer": employer_name,
        "beneficiary": f"{b.first_name} {b.last_name}" if b is not None else None,
        "beneficiary_cin": b.cin if b is not None else None,
        "revision": c.revision,
        "started_at": c.started_at.isoformat(),
        "ended_at": c.ended_at.isoformat() if c.ended_at else None,
    }


def contract_detail(
    session: Session, principal: Principal, contract: Contract, now: datetime
) -> dict[str, Any]:
    """A contract with its open steps (the 'next step') and its history as this user may see it."""
    b = session.get(Beneficiary, contract.beneficiary_id) if contract.beneficiary_id else None
    e = session.get(Employer, contract.employer_id) if contract.employer_id else None
    o = session.get(Office, contract.office_id) if contract.office_id else None
    detail = contract_row(contract, b, e.name if e else None, o.code if o else None)
    detail["employer_mf"] = e.matricule_fiscal if e else None
    detail["office_name"] = {"fr": o.name_fr, "ar": o.name_ar} if o else None
    tasks = session.scalars(
        select(HumanTask)
        .where(HumanTask.contract_id == contract.id, HumanTask.status == "ready")
        .order_by(HumanTask.id)
    ).all()
    detail["open_tasks"] = [
        {**task_row(t, contract.number, b, e.name if e else None, now), "actionable": ok}
        for t in tasks
        for ok in [can_act(principal, t, contract)]
    ]
    staff = principal.reads_everything or principal.is_office_staff
    detail["documents"] = contract_documents(session, contract.id)
    payments = session.scalars(
        select(PaymentOrder)
        .where(PaymentOrder.contract_id == contract.id)
        .order_by(PaymentOrder.period, PaymentOrder.id)
    ).all()
    detail["payments"] = [
        {
            "period": o.period,
            "kind": o.kind,
            "payee": o.payee_kind,
            "amount": o.amount_millimes / 1000,
            "status": o.status,
            "reject_reason": o.reject_reason,
            "settled_at": o.settled_at.isoformat() if o.settled_at else None,
        }
        for o in payments
        # a beneficiary sees the payments made to them, an employer those made to the company
        if staff
        or (o.payee_kind == "beneficiary" and principal.has("beneficiary"))
        or (o.payee_kind == "employer" and principal.has("employer"))
    ]
    events = session.scalars(
        select(Event).where(Event.contract_id == contract.id).order_by(Event.seq)
    ).all()
    detail["events"] = [event_row(ev, full=staff) for ev in events]
    return detail


def event_row(ev: Event, *, full: bool) -> dict[str, Any]:
    payload = ev.payload if isinstance(ev.payload, dict) else {}
    row: dict[str, Any] = {
        "seq": ev.seq,
        "kind": ev.kind,
        "actor": ev.actor if full else None,
        "at": ev.at.isoformat(),
        "step": payload.get("bpmn_id") or payload.get("name"),
    }
    if full:
        data = payload.get("data")
        if ev.kind == "task_completed" and isinstance(data, dict):
            row["data"] = data
        if ev.kind in ("task_reassigned",):
            row["data"] = {k: payload.get(k) for k in ("assignee", "previous", "reason")}
        row["hash"] = ev.hash
    return row


def task_detail(session: Session, principal: Principal, guid: str, now: datetime) -> dict[str, Any]:
    task, contract = visible_task(session, principal, guid)
    detail = contract_detail(session, principal, contract, now)
    b = session.get(Beneficiary, contract.beneficiary_id) if contract.beneficiary_id else None
    row = task_row(task, contract.number, b, detail["employer"], now)
    row["actionable"] = can_act(principal, task, contract)
    row["claimed_by_me"] = task.assignee == principal.username
    row["contract_revision"] = contract.revision
    try:
        row["form"] = forms_bridge.schema(task.programme, task.form_key)
    except KeyError:
        row["form"] = None
    row["data"] = _last_data(session, contract.id, task.bpmn_id)
    out: dict[str, Any] = {"task": row, "contract": detail}
    if principal.is_office_staff or principal.reads_everything:
        out["registry"] = registry_context(session, contract)
    return out


def registry_context(session: Session, contract: Contract) -> dict[str, Any]:
    """For the office's validation: the registry facts the contract's decisions read (its
    start event keeps them) and the job seeker's other contracts."""
    payload = session.scalar(
        select(Event.payload).where(Event.contract_id == contract.id, Event.seq == 1)
    )
    data = payload.get("data") if isinstance(payload, dict) else None
    start = data if isinstance(data, dict) else {}
    facts = {k: start[k] for k in REGISTRY_FACTS if k in start}
    others = []
    if contract.beneficiary_id is not None:
        rows = session.execute(
            select(Contract.id, Contract.number, Contract.programme, Contract.status, Employer.name)
            .outerjoin(Employer, Employer.id == Contract.employer_id)
            .where(Contract.beneficiary_id == contract.beneficiary_id, Contract.id != contract.id)
            .order_by(Contract.started_at.desc())
            .limit(50)
        ).all()
        others = [
            {"id": i, "number": n, "programme": p, "status": st, "employer": e}
            for i, n, p, st, e in rows
        ]
    return {"facts": facts, "other_contracts": others}


def _last_data(session: Session, contract_id: int, bpmn_id: str) -> dict[str, Any]:
    """What was submitted the last time this step was completed (prefills a correction)."""
    events = session.scalars(
        select(Event)
        .where(Event.contract_id == contract_id, Event.kind == "task_completed")
        .order_by(Event.seq.desc())
    )
    for ev in events:
        payload = ev.payload if isinstance(ev.payload, dict) else {}
        if payload.get("bpmn_id") == bpmn_id and isinstance(payload.get("data"), dict):
            return dict(payload["data"])
    return {}


def programmes_open_for_requests(
    session: Session, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Programmes an employer can request a contract for: deployed, with a start form, and
    not closed by their parameters (``open_to_requests`` false today, e.g. a repealed one)."""
    today = now or datetime.now(UTC)
    newest = (
        select(ProcessDefinition.programme, func.max(ProcessDefinition.version).label("v"))
        .where(ProcessDefinition.status == "active")
        .group_by(ProcessDefinition.programme)
        .subquery()
    )
    pd = aliased(ProcessDefinition)
    rows = session.scalars(
        select(pd).join(newest, and_(newest.c.programme == pd.programme, newest.c.v == pd.version))
    ).all()
    out = []
    for d in sorted(rows, key=lambda r: r.programme):
        manifest = d.meta.get("manifest", {}) if isinstance(d.meta, dict) else {}
        params = resolve_parameters(d.parameters or {}, today)
        if params.get("open_to_requests") is False:
            continue
        if manifest.get("start_form"):
            out.append(
                {
                    "programme": d.programme,
                    "name": manifest.get("name") or {"fr": d.programme, "ar": d.programme},
                    "version": d.version,
                    "start_form": manifest["start_form"],
                }
            )
    return out


def start_form_schema(programme: dict[str, Any]) -> dict[str, Any]:
    """The start form of a programme listed by :func:`programmes_open_for_requests`."""
    return forms_bridge.schema(str(programme["programme"]), str(programme["start_form"]))


def offices(session: Session) -> list[dict[str, Any]]:
    return [
        {"code": o.code, "name": {"fr": o.name_fr, "ar": o.name_ar}, "pilot": o.pilot}
        for o in session.scalars(select(Office).order_by(Office.code))
    ]
