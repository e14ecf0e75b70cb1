"""The ``payment_order`` side-effect handler: write the order, exactly once.

The outbox delivers each order at least once (a worker killed after the insert, before the row
is marked, runs it again); ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING`` makes every
delivery after the first a no-op, and the handler answers from the stored row. The contract
learns the payment's outcome later, from the reconciliation of the bank's result file
(``reconcile.py``): the handler returns ``awaiting`` and the outbox row waits for that outcome.

An order without a usable account is rejected at once (``NO_ACCOUNT``/``INVALID_RIB``): the
failure goes back to the contract as its ``reply_failed`` message, which gives the counsellor
the task to fix the account (CIVP ``fix_payee_account``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.models import Beneficiary, Contract, Employer, Office
from engine.models.payments import PayeeAccount, PaymentOrder
from engine.payments.accounts import iban_from_rib, valid_rib
from engine.worker.handlers import HandlerResult, OutboxItem, SideEffectError, current_engine

KIND = "payment_order"


def to_millimes(amount: Any) -> int:
    """``"200.000"`` → 200000 (TND has 3 decimals); refuses sub-millime amounts."""
    value = Decimal(str(amount))
    millimes = (value * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if millimes != value * 1000:
        raise SideEffectError(
            f"amount {amount!r} is not a whole number of millimes", retryable=False
        )
    return int(millimes)


def format_millimes(millimes: int) -> str:
    sign = "-" if millimes < 0 else ""
    whole, frac = divmod(abs(millimes), 1000)
    return f"{sign}{whole}.{frac:03d}"


def end_to_end_id(idempotency_key: str) -> str:
    """A short id for the bank files (ISO 20022 EndToEndId ≤ 35), derived from the business key."""
    return "AQD" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32].upper()


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def upsert_account(
    session: Session, payee_kind: str, payee_id: int, rib: str, at: datetime, actor: str
) -> None:
    stmt = _insert(session)(PayeeAccount).values(
        payee_kind=payee_kind, payee_id=payee_id, rib=rib, updated_at=at, updated_by=actor
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["payee_kind", "payee_id"],
            set_={"rib": rib, "updated_at": at, "updated_by": actor},
        )
    )


@dataclass(frozen=True)
class Stored:
    """The stored order, as the handler reports it."""

    end_to_end_id: str
    status: str
    amount_millimes: int
    reject_reason: str | None
    batch_id: int | None


def _facts(session: Session, contract_id: int, payee_kind: str) -> Any:
    """Contract, office, payee and account in one round trip."""
    if payee_kind == "employer":
        payee_id: Any = Contract.employer_id
        names: tuple[Any, ...] = (Employer.name, literal(""))
        party: Any = (Employer, Employer.id == Contract.employer_id)
    else:
        payee_id = Contract.beneficiary_id
        names = (Beneficiary.first_name, Beneficiary.last_name)
        party = (Beneficiary, Beneficiary.id == Contract.beneficiary_id)
    stmt = (
        select(
            Contract.id,
            Contract.number,
            Contract.programme,
            Office.code,
            payee_id,
            *names,
            PayeeAccount.rib,
        )
        .select_from(Contract)
        .outerjoin(Office, Office.id == Contract.office_id)
        .outerjoin(*party)
        .outerjoin(
            PayeeAccount,
            and_(PayeeAccount.payee_kind == payee_kind, PayeeAccount.payee_id == payee_id),
        )
        .where(Contract.id == contract_id)
    )
    return session.execute(stmt).first()


def record_order(session: Session, item: OutboxItem, at: datetime) -> Stored:
    """Insert the order for ``item`` unless it exists; return the stored order."""
    payload = item.payload
    key = item.idempotency_key
    payee_kind = str(payload.get("payee") or "beneficiary")
    facts = _facts(session, item.contract_id, payee_kind) if item.contract_id else None
    if facts is None:
        raise SideEffectError(f"payment {key}: no contract", retryable=False)
    contract_id, number, programme, office, payee_id, first, last, account = facts
    payee_name = f"{first or ''} {last or ''}".strip()
    given = str(payload.get("rib") or "")
    if given and payee_id is not None and valid_rib(given):
        upsert_account(session, payee_kind, payee_id, given, at, f"contract:{number}")
    rib = given or account
    reason = None
    if not rib:
        reason = "NO_ACCOUNT"
    elif not valid_rib(rib):
        reason = "INVALID_RIB"
    month = str(payload.get("month") or at.strftime("%Y-%m"))
    values = {
        "idempotency_key": key,
        "end_to_end_id": end_to_end_id(key),
        "contract_id": contract_id,
        "contract_number": number,
        "programme": programme,
        "office_code": office or "",
        "period": month[:7],
        "contract_month": int(payload.get("period") or 0),
        "payee_kind": payee_kind,
        "payee_id": payee_id,
        "payee_name": payee_name[:200],
        "kind": str(payload.get("kind") or "payment"),
        "amount_millimes": to_millimes(payload.get("amount", 0)),
        "currency": "TND",
        "rib": rib or None,
        "iban": iban_from_rib(rib) if rib and reason is None else None,
        "status": "rejected" if reason else "ordered",
        "reject_reason": reason,
        "reissue_of": payload.get("reissue_of") or None,
        "ordered_at": at,
        "settled_at": at if reason else None,
    }
    columns = (
        PaymentOrder.end_to_end_id,
        PaymentOrder.status,
        PaymentOrder.amount_millimes,
        PaymentOrder.reject_reason,
        PaymentOrder.batch_id,
    )
    inserted = session.execute(
        _insert(session)(PaymentOrder)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(*columns)
    ).first()
    if values["reissue_of"] and inserted is not None:
        session.execute(
            update(PaymentOrder)
            .where(
                PaymentOrder.idempotency_key == values["reissue_of"],
                PaymentOrder.status == "rejected",
            )
            .values(status="reissued")
        )
    row = (
        inserted
        or session.execute(select(*columns).where(PaymentOrder.idempotency_key == key)).one()
    )
    return Stored(*row)


def handle_payment_order(item: OutboxItem) -> HandlerResult:
    """The ``payment_order`` handler (registered by ``engine.payments``)."""
    if to_millimes(item.payload.get("amount", 0)) <= 0:
        # nothing to transfer (no day worked): the month closes at once, no order is written
        return HandlerResult({"status": "nothing_to_pay", "amount": "0.000"})
    aqd = current_engine()
    with aqd.session() as session, session.begin():
        order = record_order(session, item, aqd.clock.now())
        summary = {
            "order": order.end_to_end_id,
            "status": order.status,
            "amount": format_millimes(order.amount_millimes),
        }
        rejected = order.status == "rejected" and order.batch_id is None
        reason = order.reject_reason or ""
    if rejected:
        raise SideEffectError(f"{reason}: payee has no usable account", retryable=False)
    return HandlerResult(summary, awaiting=True)
