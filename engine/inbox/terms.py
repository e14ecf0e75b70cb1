"""The terms of a contract as its document states them (parties, dates, amounts), read from the
workflow's data replayed from the contract's events.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine.access.accounts import Principal
from engine.access.scope import visible_contract
from engine.audit import replay
from engine.commands.aqd import Aqd
from engine.definitions.amounts import contract_amounts
from engine.inbox.contracts import contract_detail


def contract_terms(
    aqd: Aqd, session: Session, principal: Principal, ref: str | int
) -> dict[str, Any]:
    """What the contract document states: parties, programme, and the agreed terms as the
    contract's workflow holds them now (replayed from its events)."""
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
