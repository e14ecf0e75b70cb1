"""The inbox: the human tasks a principal may see (filtered, searched, paged), a task's detail,
and the task commands on a principal's behalf (claim, complete with uploads, reassign).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.access.accounts import Principal
from engine.access.scope import CONTRACT_NUMBER, can_act, lanes_of, task_scope, visible_task
from engine.commands.aqd import Aqd
from engine.errors import Conflict, InvalidInput, NotFound, NotPermitted
from engine.inbox import documents
from engine.kernel.planning import Recorded
from engine.models import (
    Beneficiary,
    Contract,
    Employer,
    HumanTask,
    User,
    UserRole,
)

Assigned = Literal["any", "me", "unassigned", "others"]


Sort = Literal["due", "ready", "-ready", "contract"]


PER_PAGE_MAX = 200


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


def search_condition(q: str) -> Any:
    text = q.strip()
    if CONTRACT_NUMBER.match(text.upper()):
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
    ids = select(HumanTask.id).where(HumanTask.status == "ready", task_scope(principal))
    if party_scope or searching or f.sort == "contract":
        ids = ids.join(Contract, Contract.id == HumanTask.contract_id)
    if searching:
        ids = ids.outerjoin(Beneficiary, Beneficiary.id == Contract.beneficiary_id)
        ids = ids.outerjoin(Employer, Employer.id == Contract.employer_id)
        ids = ids.where(search_condition(str(f.q)))
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
        .where(HumanTask.status == "ready", task_scope(principal))
        .distinct()
    )
    rows = session.execute(base).all()
    return {
        "programmes": sorted({r.programme for r in rows}),
        "steps": sorted({r.bpmn_id for r in rows}),
    }


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
    """Complete a task as ``principal``; files in ``uploads`` are checked first (no
    transaction open while they parse), then stored in the same transaction and referenced
    from the submission (form properties marked ``x-upload``). Every upload the submission
    references is recorded with the completion's event; the task's other uploads expire."""
    checked = [documents.check(aqd.plugins, upload) for upload in uploads or []]
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
        for c in checked:
            if c.upload.field not in allowed:
                raise InvalidInput(
                    "this form takes no file here", fields={c.upload.field: "unexpected file"}
                )
        stored = documents.store_pending(
            session, aqd, contract.id, checked, principal.username, guid
        )
        for c, document in zip(checked, stored, strict=True):
            data[c.upload.field] = documents.reference(document)
        now = aqd.clock.now()
        referenced = documents.check_references(
            session, contract.id, task.programme, task.form_key, data, guid, now
        )
        recorded = aqd.complete_task(session, guid, data, principal.username, expected_revision)
        documents.record_completion(session, guid, referenced, now)
        return recorded


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
