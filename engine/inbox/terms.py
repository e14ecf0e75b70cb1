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
    stipend = _monthly_stipend(contract.programme, data, params or {})
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
        "stipend": stipend,
        "complement": data.get("employer_complement", 0),
        "legal_basis": data.get("legal_basis", ""),
        "status": contract.status,
    }


def _monthly_stipend(programme: str, data: dict[str, Any], params: dict[str, Any]) -> Any:
    """The State's monthly amount as the programme's parameters give it (CIVP: by diploma,
    plus the disability top-up); other programmes state it in their own parameters."""
    if programme == "civp":
        base = (
            params.get("stipend_higher_ed") if data.get("graduate") else params.get("stipend_other")
        )
        if base is None:
            return ""
        return base + (params.get("disability_topup", 0) if data.get("disabled") else 0)
    for key in ("stipend", "allowance", "monthly_allowance", "stipend_aneti"):
        if key in params:
            return params[key]
    return ""
