"""Lifecycle actions on a contract: refuse the offer, suspend, resume, end early, extend.

Each action sends one of the lifecycle messages every programme's process catches
(``decline_agreement``, ``suspend_contract``, ``resume_contract``, ``terminate_contract``,
``request_extension``) as one command, after checking who asks and what they filled in:

* **who** — office staff of the contract's office may suspend, resume, end or extend; the
  employer may refuse the offer instead of agreeing, end its own contract or ask for an
  extension; the beneficiary may end their own contract;
* **when** — the action is offered only while the contract's process waits for its message
  (``process_instance.waiting_messages``, kept by every command), so a contract that is still
  in review, already suspended or past its term never shows it; the engine checks it again
  under the contract's lock (a race is a clear 409, never a 500);
* **what** — the form of the action (``forms/schemas/contract_actions/``, Arabic and French
  labels) validates the data; the message's payload adds who acted, and, for a termination,
  the reason code and the contract's outcome the process records.

Nothing here touches SpiffWorkflow: the message goes through :meth:`Aqd.correlate_message`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import forms_bridge
from engine.access.accounts import Principal
from engine.access.scope import visible_contract
from engine.commands.aqd import Aqd
from engine.errors import Conflict, NotFound, NotPermitted
from engine.kernel.planning import Recorded
from engine.models import Contract, ProcessInstance

#: The programme folder of the action forms in ``forms/schemas``.
FORMS = "contract_actions"

#: Reason codes of a termination that say what became of the beneficiary.
_OUTCOME_OF_REASON = {
    "placed_elsewhere": "placed_elsewhere",
    "self_employed": "self_employed",
}


@dataclass(frozen=True)
class Action:
    key: str
    message: str
    party: str  # office | employer | beneficiary: whose form this is
    form: str


ACTIONS: tuple[Action, ...] = (
    Action("suspend", "suspend_contract", "office", "suspend_contract"),
    Action("resume", "resume_contract", "office", "resume_contract"),
    Action("extend", "request_extension", "office", "request_extension"),
    Action("terminate", "terminate_contract", "office", "terminate_by_office"),
    Action("employer_decline", "decline_agreement", "employer", "decline_agreement"),
    Action("employer_extend", "request_extension", "employer", "request_extension"),
    Action("employer_terminate", "terminate_contract", "employer", "terminate_by_employer"),
    Action(
        "beneficiary_terminate", "terminate_contract", "beneficiary", "terminate_by_beneficiary"
    ),
)
BY_KEY = {a.key: a for a in ACTIONS}


def parties_of(principal: Principal, contract: Contract) -> set[str]:
    """The parties of ``contract`` the principal may act as."""
    parties: set[str] = set()
    if (
        principal.is_office_staff
        and principal.has("counsellor", "office_head")
        and principal.office_id is not None
        and principal.office_id == contract.office_id
    ):
        parties.add("office")
    if (
        principal.has("employer")
        and contract.employer_id is not None
        and contract.employer_id == principal.employer_id
    ):
        parties.add("employer")
    if (
        principal.has("beneficiary")
        and contract.beneficiary_id is not None
        and contract.beneficiary_id == principal.beneficiary_id
    ):
        parties.add("beneficiary")
    return parties


def waiting_messages(session: Session, contract_id: int) -> set[str]:
    """Messages the contract's running process instances wait for right now."""
    rows = session.scalars(
        select(ProcessInstance.waiting_messages).where(
            ProcessInstance.contract_id == contract_id, ProcessInstance.status == "running"
        )
    ).all()
    return {str(name) for names in rows for name in (names or [])}


def action_form(action: Action) -> dict[str, Any]:
    """The JSON Schema of an action's form (Arabic and French labels)."""
    return forms_bridge.schema(FORMS, action.form)


def available(session: Session, principal: Principal, contract: Contract) -> list[dict[str, Any]]:
    """The actions this principal may take on this contract now, each with its form."""
    parties = parties_of(principal, contract)
    if not parties:
        return []
    waiting = waiting_messages(session, contract.id)
    return [
        {
            "key": a.key,
            "message": a.message,
            "party": a.party,
            "form_key": a.form,
            "form": action_form(a),
        }
        for a in ACTIONS
        if a.party in parties and a.message in waiting
    ]


def payload(action: Action, data: dict[str, Any], actor: str) -> dict[str, Any]:
    """The message's payload: the form's data, who acted, and a termination's outcome."""
    body = {**data, "requested_by": action.party, "by": actor}
    if action.message == "terminate_contract":
        reason = str(data["reason"])
        if action.party == "employer":
            outcome = f"hired_{data['hire_contract']}" if reason == "hired" else "none"
        elif action.party == "beneficiary":
            outcome = _OUTCOME_OF_REASON.get(reason, "none")
        else:
            outcome = str(data["outcome"])
        body["outcome"] = outcome
        body.pop("hire_contract", None)
    return body


def perform(
    aqd: Aqd,
    principal: Principal,
    ref: str | int,
    key: str,
    data: dict[str, Any],
    expected_revision: int | None = None,
) -> Recorded:
    """Take action ``key`` on contract ``ref`` as ``principal``: one command, one transaction."""
    action = BY_KEY.get(key)
    if action is None:
        raise NotFound(f"no contract action {key!r}")
    with aqd.session() as session, session.begin():
        contract = visible_contract(session, principal, ref)
        if action.party not in parties_of(principal, contract):
            raise NotPermitted(f"you cannot {key.replace('_', ' ')} this contract")
        clean = forms_bridge.validate(FORMS, action.form, data)
        if expected_revision is not None and expected_revision != contract.revision:
            raise Conflict(
                "the contract changed since you opened it; reload and try again",
                fields={"expected_revision": str(contract.revision)},
            )
        if action.message not in waiting_messages(session, contract.id):
            raise Conflict(
                f"contract {contract.number} ({contract.status}) does not accept "
                f"{action.message} now",
                fields={"status": contract.status},
            )
        return aqd.correlate_message(
            session,
            contract.id,
            action.message,
            payload(action, clean, principal.username),
            principal.username,
        )
