"""Overdue tasks are escalated once: a task still ready after its due date tells who must act.

* a step of the office (counsellor, office head, finance lanes): the heads of the contract's
  office, and the counsellor who claimed it;
* a step of the employer or the beneficiary (the agreement, the monthly attendance, …): that
  party's accounts, as a reminder with the missed date.

Each notice is a notification bound to the contract (e-mail/SMS through the outbox when the user
gave an address, always in their Aqd mailbox), keyed ``task_overdue:<task>:<user>`` so that a
retried run sends nothing twice; ``human_task.escalated_at`` marks the task so the next run does
not look at it again. One transaction per batch; the scheduler runs it every 15 minutes, the
embedded server every 5 (``aqd tasks escalate`` by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from engine.commands.aqd import Aqd
from engine.models import Contract, HumanTask, User, UserRole
from engine.notifications.notify import PARTY_LANES, notify, party_users, task_params

#: Who is waited for, as the notice says it (French, Arabic).
_WAITING_ON = {
    "office": ("le bureau de l'emploi", "مكتب التشغيل"),
    "employer": ("l'employeur", "المؤجر"),
    "beneficiary": ("le bénéficiaire", "المنتفع"),
}


@dataclass
class EscalationRun:
    tasks: int = 0
    notices: int = 0


def _office_heads(session: Any, office_id: int | None) -> list[User]:
    if office_id is None:
        return []
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.office_id == office_id,
                User.active.is_(True),
                UserRole.role == "office_head",
            )
            .order_by(User.id)
        )
    )


def escalate_overdue(aqd: Aqd, batch: int = 200) -> EscalationRun:
    """Escalate every ready task past its due date that was not escalated yet."""
    run = EscalationRun()
    while True:
        done = _escalate_batch(aqd, batch, run)
        if done < batch:
            return run


def _escalate_batch(aqd: Aqd, batch: int, run: EscalationRun) -> int:
    now: datetime = aqd.clock.now()
    public_url = aqd.settings.public_url
    with aqd.session() as session, session.begin():
        rows = session.execute(
            select(HumanTask, Contract.number, Contract.employer_id, Contract.beneficiary_id)
            .join(Contract, Contract.id == HumanTask.contract_id)
            .where(
                HumanTask.status == "ready",
                HumanTask.escalated_at.is_(None),
                HumanTask.due_at < now,
            )
            .order_by(HumanTask.due_at, HumanTask.id)
            .limit(batch)
            # The contract too, as every command locks it first: a contract a command holds
            # is skipped (this run or the next takes it), never waited for in the wrong order.
            .with_for_update(of=[HumanTask, Contract], skip_locked=True)
        ).all()
        for task, number, employer_id, beneficiary_id in rows:
            if task.lane in PARTY_LANES:
                waiting_on = task.lane
                users = party_users(
                    session,
                    employer_id=employer_id if task.lane == "employer" else None,
                    beneficiary_id=beneficiary_id if task.lane == "beneficiary" else None,
                )
            else:
                waiting_on = "office"
                users = _office_heads(session, task.office_id)
                if task.assignee and all(u.username != task.assignee for u in users):
                    assignee = session.scalar(
                        select(User).where(User.username == task.assignee, User.active.is_(True))
                    )
                    users += [assignee] if assignee is not None else []
            params = task_params(
                number,
                task.programme,
                task.form_key,
                task.name,
                task.task_guid,
                public_url,
                task.due_at,
            )
            who_fr, who_ar = _WAITING_ON[waiting_on]
            if task.assignee and waiting_on == "office":
                who_fr, who_ar = f"{who_fr}, {task.assignee}", f"{who_ar}، {task.assignee}"
            for user in users:
                sent = notify(
                    session,
                    key=f"task_overdue:{task.task_guid}:{user.username}",
                    recipient=user.username,
                    locale=user.locale,
                    template="task_overdue",
                    params={**params, "who_fr": who_fr, "who_ar": who_ar},
                    now=now,
                    contract_id=task.contract_id,
                    contact=(user.email, user.phone),
                )
                run.notices += sent is not None
        if rows:
            session.execute(
                update(HumanTask)
                .where(HumanTask.id.in_([task.id for task, *_ in rows]))
                .values(escalated_at=now)
            )
        run.tasks += len(rows)
        return len(rows)
