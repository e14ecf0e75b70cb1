"""Scoped reads and the permission rules of the web app and API (DESIGN.md §5).

Every query here takes the acting :class:`Principal` and filters by its scope: office staff see
their office, an employer its company's contracts, a beneficiary their own. Something outside a
principal's scope is reported as *not found* (never "forbidden"), so ids cannot be probed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine import forms_bridge
from engine.errors import Conflict, InvalidInput, NotFound, NotPermitted
from engine.models import (
    Beneficiary,
    Contract,
    Employer,
    Event,
    HumanTask,
    Office,
    PaymentOrder,
    ProcessDefinition,
    User,
    UserRole,
)
from engine.services.accounts import Principal
from engine.services.amounts import contract_amounts
from engine.services.commands import Aqd, Recorded

Assigned = Literal["any", "me", "unassigned", "others"]
Sort = Literal["due", "ready", "-ready", "contract"]
PER_PAGE_MAX = 200
_CONTRACT_NUMBER = re.compile(r"^[A-Z]+-\d{4}-\d+$")

# Which task lanes a role may act on. Office roles act within their office only.
LANES_BY_ROLE: dict[str, frozenset[str]] = {
    "counsellor": frozenset({"counsellor"}),
    "office_head": frozenset({"counsellor", "office_head"}),
    "finance": frozenset({"finance"}),
    "employer": frozenset({"employer"}),
    "beneficiary": frozenset({"beneficiary"}),
}


def lanes_of(principal: Principal) -> frozenset[str]:
    lanes: set[str] = set()
    for role in principal.roles:
        lanes |= LANES_BY_ROLE.get(role, frozenset())
    return frozenset(lanes)


@dataclass(frozen=True)
class InboxFilter:
    programme: str | None = None
    step: str | None = None
    due_before: date | None = None
    overdue: bool = False
    assigned: Assigned = "any"
    q: str | None = None
    sort: Sort = "due"
    page: int = 1
    per_page: int = 50


@dataclass
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
        }


# -- scope ----------------------------------------------------------------------------------------


def _contract_scope(principal: Principal) -> Any:
    """A SQL condition on ``Contract`` limiting rows to what the principal may read."""
    if principal.reads_everything:
        return True
    conditions = []
    if principal.is_office_staff:
        conditions.append(Contract.office_id == principal.office_id)
    if principal.has("employer") and principal.employer_id is not None:
        conditions.append(Contract.employer_id == principal.employer_id)
    if principal.has("beneficiary") and principal.beneficiary_id is not None:
        conditions.append(Contract.beneficiary_id == principal.beneficiary_id)
    return or_(*conditions) if conditions else False


def _task_scope(principal: Principal) -> Any:
    """Tasks a principal may see in an inbox: their lanes, in their office or their contracts."""
    if principal.reads_everything and not lanes_of(principal):
        return True
    conditions = []
    lanes = lanes_of(principal)
    if principal.is_office_staff:
        office_lanes = lanes & {"counsellor", "office_head", "finance"}
        if office_lanes:
            conditions.append(
                and_(HumanTask.office_id == principal.office_id, HumanTask.lane.in_(office_lanes))
            )
    if "employer" in lanes and principal.employer_id is not None:
        conditions.append(
            and_(HumanTask.lane == "employer", Contract.employer_id == principal.employer_id)
        )
    if "beneficiary" in lanes and principal.beneficiary_id is not None:
        conditions.append(
            and_(
                HumanTask.lane == "beneficiary",
                Contract.beneficiary_id == principal.beneficiary_id,
            )
        )
    return or_(*conditions) if conditions else False


def can_read_contract(principal: Principal, contract: Contract) -> bool:
    if principal.reads_everything:
        return True
    if principal.is_office_staff and contract.office_id == principal.office_id:
        return True
    if principal.has("employer") and contract.employer_id is not None:
        if contract.employer_id == principal.employer_id:
            return True
    return bool(
        principal.has("beneficiary")
        and contract.beneficiary_id is not None
        and contract.beneficiary_id == principal.beneficiary_id
    )


def can_act(principal: Principal, task: HumanTask, contract: Contract) -> bool:
    """May this principal complete (or claim) this task?"""
    if task.lane not in lanes_of(principal):
        return False
    if task.lane in ("counsellor", "office_head", "finance"):
        office = task.office_id if task.office_id is not None else contract.office_id
        return principal.is_office_staff and office == principal.office_id
    if task.lane == "employer":
        return contract.employer_id is not None and contract.employer_id == principal.employer_id
    if task.lane == "beneficiary":
        return (
            contract.beneficiary_id is not None
            and contract.beneficiary_id == principal.beneficiary_id
        )
    return False


# -- reads ----------------------------------------------------------------------------------------


def _search(q: str) -> Any:
    text = q.strip()
    if _CONTRACT_NUMBER.match(text.upper()):
        return Contract.number == text.upper()
    if text.isdigit() and len(text) == 8:
        return Beneficiary.cin == text
    like = "%" + text.replace("\\", "").replace("%", "").replace("_", "") + "%"
    return or_(
        Employer.matricule_fiscal == text.upper(),
        Employer.name.ilike(like),
        Contract.number.ilike(like),
    )


def inbox(session: Session, principal: Principal, f: InboxFilter, now: datetime) -> Page:
    """Ready tasks the principal may see, filtered, sorted and paginated.

    Two steps keep a large office fast: the filters pick one page of task ids from
    ``human_task`` (joining ``contract`` and the parties only when the scope or a search needs
    them; the ``(office_id, status, due_at)`` index serves the default order), then one query
    fetches that page's display columns.
    """
    per_page = max(1, min(f.per_page, PER_PAGE_MAX))
    page = max(1, f.page)
    searching = bool(f.q and f.q.strip())
    party_scope = bool(lanes_of(principal) & {"employer", "beneficiary"})
    ids = select(HumanTask.id).where(HumanTask.status == "ready", _task_scope(principal))
    if party_scope or searching or f.sort == "contract":
        ids = ids.join(Contract, Contract.id == HumanTask.contract_id)
    if searching:
        ids = ids.outerjoin(Beneficiary, Beneficiary.id == Contract.beneficiary_id)
        ids = ids.outerjoin(Employer, Employer.id == Contract.employer_id)
        ids = ids.where(_search(str(f.q)))
    if f.programme:
        ids = ids.where(HumanTask.programme == f.programme)
    if f.step:
        ids = ids.where(HumanTask.bpmn_id == f.step)
    if f.due_before and f.due_before < date.max:
        limit = datetime.combine(f.due_before + timedelta(days=1), time(), tzinfo=now.tzinfo)
        ids = ids.where(HumanTask.due_at < limit)
    if f.overdue:
        ids = ids.where(HumanTask.due_at < now)
    if f.assigned == "me":
        ids = ids.where(HumanTask.assignee == principal.username)
    elif f.assigned == "unassigned":
        ids = ids.where(HumanTask.assignee.is_(None))
    elif f.assigned == "others":
        ids = ids.where(HumanTask.assignee != principal.username)
    order: list[Any]
    if f.sort == "ready":
        order = [HumanTask.ready_at, HumanTask.id]
    elif f.sort == "-ready":
        order = [HumanTask.ready_at.desc(), HumanTask.id.desc()]
    elif f.sort == "contract":
        order = [Contract.number, HumanTask.id]
    else:
        order = [HumanTask.due_at.asc().nulls_last(), HumanTask.id]
    # One round trip: the page's ids with the total (a window count), then their columns.
    page_ids = (
        ids.add_columns(func.count().over().label("total"))
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
        .subquery("page")
    )
    outer = (
        select(*_TASK_COLUMNS, page_ids.c.total)
        .join(page_ids, page_ids.c.id == HumanTask.id)
        .join(Contract, Contract.id == HumanTask.contract_id)
        .outerjoin(Beneficiary, Beneficiary.id == Contract.beneficiary_id)
        .outerjoin(Employer, Employer.id == Contract.employer_id)
        .order_by(*order)
    )
    rows = session.execute(outer).all()
    if rows:
        total = int(rows[0].total)
    else:  # past the last page (or nothing at all): count on its own
        total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    items = [_item(r, now) for r in rows]
    return Page(items=items, total=int(total), page=page, per_page=per_page)


_TASK_COLUMNS = (
    HumanTask.id,
    HumanTask.task_guid,
    HumanTask.bpmn_id,
    HumanTask.name,
    HumanTask.programme,
    HumanTask.lane,
    HumanTask.form_key,
    HumanTask.status,
    HumanTask.assignee,
    HumanTask.contract_id,
    HumanTask.ready_at,
    HumanTask.due_at,
    Contract.number.label("contract_number"),
    Beneficiary.first_name,
    Beneficiary.last_name,
    Beneficiary.cin,
    Employer.name.label("employer_name"),
)


def _item(r: Any, now: datetime) -> dict[str, Any]:
    return {
        "guid": r.task_guid,
        "step": r.bpmn_id,
        "name": r.name,
        "programme": r.programme,
        "lane": r.lane,
        "form_key": r.form_key,
        "status": r.status,
        "assignee": r.assignee,
        "contract_id": r.contract_id,
        "contract_number": r.contract_number,
        "beneficiary": f"{r.first_name} {r.last_name}" if r.cin is not None else None,
        "beneficiary_cin": r.cin,
        "employer": r.employer_name,
        "ready_at": r.ready_at.isoformat(),
        "due_at": r.due_at.isoformat() if r.due_at else None,
        "overdue": bool(r.due_at and r.due_at < now),
    }


def task_row(
    t: HumanTask, number: str, b: Beneficiary | None, employer_name: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "guid": t.task_guid,
        "step": t.bpmn_id,
        "name": t.name,
        "programme": t.programme,
        "lane": t.lane,
        "form_key": t.form_key,
        "status": t.status,
        "assignee": t.assignee,
        "contract_id": t.contract_id,
        "contract_number": number,
        "beneficiary": f"{b.first_name} {b.last_name}" if b is not None else None,
        "beneficiary_cin": b.cin if b is not None else None,
        "employer": employer_name,
        "ready_at": t.ready_at.isoformat(),
        "due_at": t.due_at.isoformat() if t.due_at else None,
        "overdue": bool(t.due_at and t.due_at < now),
    }


def inbox_facets(session: Session, principal: Principal) -> dict[str, list[str]]:
    """Values for the filter drop-downs: programmes and steps present in the principal's scope."""
    base = (
        select(HumanTask.programme, HumanTask.bpmn_id)
        .join(Contract, Contract.id == HumanTask.contract_id)
        .where(HumanTask.status == "ready", _task_scope(principal))
        .distinct()
    )
    rows = session.execute(base).all()
    return {
        "programmes": sorted({r.programme for r in rows}),
        "steps": sorted({r.bpmn_id for r in rows}),
    }


def visible_task(session: Session, principal: Principal, guid: str) -> tuple[HumanTask, Contract]:
    row = session.execute(
        select(HumanTask, Contract)
        .join(Contract, Contract.id == HumanTask.contract_id)
        .where(HumanTask.task_guid == guid)
    ).one_or_none()
    if row is None:
        raise NotFound(f"task {guid} not found")
    task, contract = row.HumanTask, row.Contract
    if not (can_act(principal, task, contract) or can_read_contract(principal, contract)):
        raise NotFound(f"task {guid} not found")
    return task, contract


def visible_contract(session: Session, principal: Principal, ref: str | int) -> Contract:
    text = str(ref).strip()
    contract = None
    if text.isdigit() and len(text) < 19:
        contract = session.get(Contract, int(text))
    if contract is None:
        contract = session.scalar(select(Contract).where(Contract.number == text.upper()))
    if contract is None or not can_read_contract(principal, contract):
        raise NotFound(f"contract {text} not found")
    return contract


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
        .where(_contract_scope(principal))
    )
    if programme:
        stmt = stmt.where(Contract.programme == programme)
    if status:
        stmt = stmt.where(Contract.status == status)
    if q and q.strip():
        stmt = stmt.where(_search(q))
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
    from engine.services.documents import contract_documents

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
    return {"task": row, "contract": detail}


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


def office_counsellors(session: Session, office_id: int) -> list[str]:
    return list(
        session.scalars(
            select(User.username)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.office_id == office_id,
                User.active.is_(True),
                UserRole.role.in_(["counsellor", "office_head"]),
            )
            .distinct()
            .order_by(User.username)
        )
    )


def programmes_open_for_requests(
    session: Session, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Programmes an employer can request a contract for: deployed, with a start form, and
    not closed by their parameters (``open_to_requests`` false today, e.g. a repealed one)."""
    from engine.services.commands import resolve_parameters

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


# -- commands on behalf of a principal ----------------------------------------------------------


def claim(aqd: Aqd, principal: Principal, guid: str, *, release: bool = False) -> Recorded:
    with aqd.session() as session, session.begin():
        task, contract = visible_task(session, principal, guid)
        if not can_act(principal, task, contract):
            raise NotPermitted("you cannot take this task")
        return aqd.claim_task(session, guid, principal.username, release=release)


def complete(
    aqd: Aqd,
    principal: Principal,
    guid: str,
    data: dict[str, Any],
    expected_revision: int | None = None,
    uploads: list[Any] | None = None,
) -> Recorded:
    """Complete a task as ``principal``; files in ``uploads`` are stored in the same
    transaction and referenced from the submission (form properties marked ``x-upload``)."""
    from engine.services import documents

    with aqd.session() as session, session.begin():
        task, contract = visible_task(session, principal, guid)
        if not can_act(principal, task, contract):
            raise NotPermitted("you cannot complete this task")
        if task.assignee and task.assignee != principal.username:
            raise Conflict(
                f"this task is claimed by {task.assignee}", fields={"assignee": task.assignee}
            )
        allowed = documents.upload_fields(task.programme, task.form_key)
        data = dict(data)
        for upload in uploads or []:
            if upload.field not in allowed:
                raise InvalidInput(
                    "this form takes no file here", fields={upload.field: "unexpected file"}
                )
            stored = documents.store(
                session, contract.id, upload, "proof", principal.username, aqd.clock.now(), guid
            )
            data[upload.field] = documents.reference(stored)
        documents.check_references(session, contract.id, task.programme, task.form_key, data)
        return aqd.complete_task(session, guid, data, principal.username, expected_revision)


def reassign(
    aqd: Aqd, principal: Principal, guid: str, assignee: str | None, reason: str
) -> Recorded:
    with aqd.session() as session, session.begin():
        task, _contract = visible_task(session, principal, guid)
        if not principal.has("office_head") or principal.office_id is None:
            raise NotPermitted("only the office head reassigns tasks")
        if task.office_id != principal.office_id:
            raise NotFound(f"task {guid} not found")
        target = (assignee or "").strip().lower() or None
        if target is not None and target not in office_counsellors(session, principal.office_id):
            raise InvalidInput(
                f"{target} is not a counsellor of this office",
                fields={"assignee": "not a counsellor of this office"},
            )
        return aqd.reassign_task(session, guid, target, principal.username, reason)


def request_contract(
    aqd: Aqd, principal: Principal, programme: str, form: dict[str, Any]
) -> dict[str, Any]:
    """An employer requests a contract for a candidate, by CIN; the office is the candidate's."""
    if not principal.has("employer") or principal.employer_id is None:
        raise NotPermitted("only an employer account can request a contract")
    cin = str(form.get("beneficiary_cin") or "").strip()
    if not (cin.isdigit() and len(cin) == 8):
        raise InvalidInput("invalid CIN", fields={"beneficiary_cin": "8 digits"})
    with aqd.session() as session, session.begin():
        if programme not in {
            p["programme"] for p in programmes_open_for_requests(session, aqd.clock.now())
        }:
            raise InvalidInput(
                f"unknown programme {programme!r}", fields={"programme": "not open for requests"}
            )
        employer = session.get(Employer, principal.employer_id)
        b = session.scalar(select(Beneficiary).where(Beneficiary.cin == cin))
        if employer is None or b is None:
            raise InvalidInput(
                "no job seeker with this CIN is registered at an employment office",
                fields={"beneficiary_cin": "not registered"},
            )
        office_code = session.scalar(select(Office.code).where(Office.id == b.office_id))
        start_form = next(
            p["start_form"]
            for p in programmes_open_for_requests(session, aqd.clock.now())
            if p["programme"] == programme
        )
        fields = forms_bridge.schema(programme, str(start_form)).get("properties", {})
        known = {
            "nationality": "TN",
            "diploma_level": b.diploma_level,
            "disabled": b.disabled,
            "request_date": aqd.clock.now().date().isoformat(),
        }
        data: dict[str, Any] = {k: v for k, v in known.items() if k in fields}
        data.update({k: v for k, v in form.items() if v not in (None, "")})
        data.update(office=office_code, employer_mf=employer.matricule_fiscal, beneficiary_cin=cin)
        created = aqd.start_contract(session, programme, data, principal.username)
        return {"id": created.id, "number": created.number, "status": created.status}


def start_form_schema(programme: dict[str, Any]) -> dict[str, Any]:
    """The start form of a programme listed by :func:`programmes_open_for_requests`."""
    return forms_bridge.schema(str(programme["programme"]), str(programme["start_form"]))


def offices(session: Session) -> list[dict[str, Any]]:
    return [
        {"code": o.code, "name": {"fr": o.name_fr, "ar": o.name_ar}, "pilot": o.pilot}
        for o in session.scalars(select(Office).order_by(Office.code))
    ]


AUDIT_ROLES = frozenset({"auditor", "programme_manager", "admin"})


def audit_contract(session: Session, principal: Principal, ref: str | int) -> Contract:
    """A contract whose full history (workflow data, replay) this principal may inspect:
    auditors, programme managers and admins everywhere, office staff in their office."""
    contract = visible_contract(session, principal, ref)
    if principal.roles & AUDIT_ROLES:
        return contract
    if principal.is_office_staff and contract.office_id == principal.office_id:
        return contract
    raise NotPermitted("the audit history is for auditors and the office's staff")


def contract_terms(
    aqd: Aqd, session: Session, principal: Principal, ref: str | int
) -> dict[str, Any]:
    """What the contract document states: parties, programme, and the agreed terms as the
    contract's workflow holds them now (replayed from its events)."""
    from engine.services import replay

    contract = visible_contract(session, principal, ref)
    detail = contract_detail(session, principal, contract, aqd.clock.now())
    history = replay.history_of(session, contract.id)
    last = int(history["events"][-1]["seq"]) if history["events"] else 0
    data: dict[str, Any] = {}
    if last:
        moment = replay.state_at(history, last, aqd.runner)
        data = dict(moment["instances"].get("main", {}).get("data", {}))
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    # The same decision the monthly process calls for the payment order (one source).
    amounts = contract_amounts(session, contract, data, aqd.sandbox, aqd.clock.now())
    manifest = history["definition"]["meta"].get("manifest", {})
    names = manifest.get("name") or {}
    office = detail.get("office_name") or {}
    return {
        "number": contract.number,
        "programme": contract.programme,
        "title_fr": names.get("fr", contract.programme.upper()),
        "title_ar": names.get("ar", contract.programme.upper()),
        "office_fr": office.get("fr", ""),
        "office_ar": office.get("ar", ""),
        "beneficiary": detail.get("beneficiary") or "",
        "cin": detail.get("beneficiary_cin") or "",
        "employer": detail.get("employer") or "",
        "mf": detail.get("employer_mf") or "",
        "position": data.get("position_title", ""),
        "tutor": data.get("tutor_name", ""),
        "request_date": data.get("request_date", ""),
        "months": data.get("max_civp_months") or (params or {}).get("contract_months", ""),
        "stipend": amounts.get("amount", ""),
        "complement": amounts.get("employer_wage_part", data.get("employer_complement", 0)),
        "legal_basis": data.get("legal_basis", ""),
        "status": contract.status,
    }
