"""One source for every amount: the monthly amounts a contract's document states come from the
DMN decision its monthly process calls for the payment order (DESIGN.md invariant 11).

A programme names its monthly amount decision in ``programme.json``::

    "amounts": {"monthly": "civp_monthly_stipend", "document_month": {"days_present": 1}}

``document_month`` holds the month facts the document assumes (a month with attendance, a wage
paid as agreed); the contract's own data gives the rest (its parameters, the beneficiary's
diploma and disability, the agreed wage). Each decision outputs ``amount`` (what the payment
order pays, in TND with 3 decimals) and ``amount_legal_basis``, and may output the part an
employer bears (``employer_wage_part``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import ProcessError
from engine.models import Contract, ProcessDefinition
from engine.runtime.decisions import decide
from engine.runtime.sandbox import Sandbox


def monthly_decision(manifest: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The programme's monthly amount decision and the month facts its document assumes."""
    amounts = manifest.get("amounts")
    if not isinstance(amounts, dict) or not isinstance(amounts.get("monthly"), str):
        return None
    month = amounts.get("document_month")
    return amounts["monthly"], dict(month) if isinstance(month, dict) else {}


def monthly_amounts(
    sources: dict[str, str],
    manifest: dict[str, Any],
    data: dict[str, Any],
    sandbox: Sandbox,
    at: datetime,
) -> dict[str, Any]:
    """The outputs of the programme's monthly amount decision for a contract whose data is
    ``data`` (with its ``params``), in a month as ``document_month`` describes it; ``{}`` when
    the programme declares no such decision or the contract lacks a fact it needs yet (e.g. the
    wage, before the employer's agreement)."""
    found = monthly_decision(manifest)
    if found is None:
        return {}
    decision_id, month = found
    params = data.get("params")
    case = {**data, **month, "params": params if isinstance(params, dict) else {}}
    try:
        return decide(sources, decision_id, case, sandbox, at).outputs
    except ProcessError:
        return {}


def contract_amounts(
    session: Session, contract: Contract, data: dict[str, Any], sandbox: Sandbox, at: datetime
) -> dict[str, Any]:
    """:func:`monthly_amounts` with the decision of the contract's own definition version. A
    version deployed before its programme's amounts were decisions computed them in a script;
    for it, the programme's latest active version that declares the decision is used, on the
    contract's own parameters (the table states the rule those scripts computed)."""
    definition = session.get(ProcessDefinition, contract.definition_id)
    if definition is None:
        return {}
    manifest = dict(definition.meta.get("manifest") or {})
    if monthly_decision(manifest) is None:
        for later in session.scalars(
            select(ProcessDefinition)
            .where(
                ProcessDefinition.programme == contract.programme,
                ProcessDefinition.status == "active",
            )
            .order_by(ProcessDefinition.version.desc())
        ):
            later_manifest = dict(later.meta.get("manifest") or {})
            if monthly_decision(later_manifest) is not None:
                definition, manifest = later, later_manifest
                break
    return monthly_amounts(definition.sources, manifest, data, sandbox, at)
