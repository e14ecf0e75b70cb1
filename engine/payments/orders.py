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
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from engine.models import Beneficiary, Contract, Employer, Office
from engine.models.payments import PayeeAccount, PaymentOrder
from engine.outbox.handlers import BatchOutcome, HandlerResult, OutboxItem, SideEffectError
from engine.payments.accounts import iban_from_rib, valid_rib

if TYPE_CHECKING:
    from engine.commands.aqd import Aqd

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


def _order_values(
    item: OutboxItem, payee_kind: str, facts: Any, given: str, at: datetime
) -> dict[str, Any]:
    """The ``payment_order`` row for ``item``, from its facts (as :func:`_facts` returns them)
    and the RIB its payload gives (``""`` if none); rejected at once without a usable account."""
    payload = item.payload
    key = item.idempotency_key
    contract_id, number, programme, office, payee_id, first, last, account = facts
    payee_name = f"{first or ''} {last or ''}".strip()
    rib = given or account
    reason = None
    if not rib:
        reason = "NO_ACCOUNT"
    elif not valid_rib(rib):
        reason = "INVALID_RIB"
    month = str(payload.get("month") or at.strftime("%Y-%m"))
    return {
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


_COLUMNS = (
    PaymentOrder.end_to_end_id,
    PaymentOrder.status,
    PaymentOrder.amount_millimes,
    PaymentOrder.reject_reason,
    PaymentOrder.batch_id,
)


def record_order(session: Session, item: OutboxItem, at: datetime) -> Stored:
    """Insert the order for ``item`` unless it exists; return the stored order."""
    payload = item.payload
    key = item.idempotency_key
    payee_kind = str(payload.get("payee") or "beneficiary")
    facts = _facts(session, item.contract_id, payee_kind) if item.contract_id else None
    if facts is None:
        raise SideEffectError(f"payment {key}: no contract", retryable=False)
    number, payee_id = facts[1], facts[4]
    given = str(payload.get("rib") or "")
    if given and payee_id is not None and valid_rib(given):
        upsert_account(session, payee_kind, payee_id, given, at, f"contract:{number}")
    values = _order_values(item, payee_kind, facts, given, at)
    inserted = session.execute(
        _insert(session)(PaymentOrder)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(*_COLUMNS)
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
        or session.execute(select(*_COLUMNS).where(PaymentOrder.idempotency_key == key)).one()
    )
    return Stored(*row)


def handle_payment_order(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    """The ``payment_order`` handler (``engine.payments.register``)."""
    if to_millimes(item.payload.get("amount", 0)) <= 0:
        # nothing to transfer (no day worked): the month closes at once, no order is written
        return HandlerResult({"status": "nothing_to_pay", "amount": "0.000"})
    with aqd.session() as session, session.begin():
        order = record_order(session, item, aqd.clock.now())
        summary = _summary(order)
        rejected = _rejected(order)
        reason = order.reject_reason or ""
    if rejected:
        raise SideEffectError(f"{reason}: payee has no usable account", retryable=False)
    return HandlerResult(summary, awaiting=True)


def _summary(order: Stored) -> dict[str, Any]:
    """The result stored on the outbox row (and later delivered with the bank's outcome)."""
    return {
        "order": order.end_to_end_id,
        "status": order.status,
        "amount": format_millimes(order.amount_millimes),
    }


def _rejected(order: Stored) -> bool:
    """Rejected at once (no usable account): the handler fails, the contract gets the task."""
    return order.status == "rejected" and order.batch_id is None


_EmployerAccount = aliased(PayeeAccount)
_BeneficiaryAccount = aliased(PayeeAccount)


def _facts_many(session: Session, contract_ids: list[int]) -> dict[int, dict[str, tuple[Any, ...]]]:
    """:func:`_facts` of many contracts for both payee kinds in one round trip:
    ``{contract id: {"employer": facts, "beneficiary": facts}}``."""
    stmt = (
        select(
            Contract.id,
            Contract.number,
            Contract.programme,
            Office.code,
            Contract.employer_id,
            Employer.name,
            _EmployerAccount.rib,
            Contract.beneficiary_id,
            Beneficiary.first_name,
            Beneficiary.last_name,
            _BeneficiaryAccount.rib,
        )
        .select_from(Contract)
        .outerjoin(Office, Office.id == Contract.office_id)
        .outerjoin(Employer, Employer.id == Contract.employer_id)
        .outerjoin(Beneficiary, Beneficiary.id == Contract.beneficiary_id)
        .outerjoin(
            _EmployerAccount,
            and_(
                _EmployerAccount.payee_kind == "employer",
                _EmployerAccount.payee_id == Contract.employer_id,
            ),
        )
        .outerjoin(
            _BeneficiaryAccount,
            and_(
                _BeneficiaryAccount.payee_kind == "beneficiary",
                _BeneficiaryAccount.payee_id == Contract.beneficiary_id,
            ),
        )
        .where(Contract.id.in_(contract_ids))
    )
    facts: dict[int, dict[str, tuple[Any, ...]]] = {}
    for (
        cid,
        number,
        programme,
        office,
        emp,
        name,
        emp_rib,
        ben,
        first,
        last,
        ben_rib,
    ) in session.execute(stmt):
        facts[cid] = {
            "employer": (cid, number, programme, office, emp, name, "", emp_rib),
            "beneficiary": (cid, number, programme, office, ben, first, last, ben_rib),
        }
    return facts


def _simple(item: OutboxItem) -> str | None:
    """The payee kind of an order the batch can write, or None for the per-item handler: no
    contract, an amount that is not positive (or not whole millimes), a RIB in the payload (the
    account is updated first), a re-issue (the first order is marked), an unknown payee kind."""
    payload = item.payload
    payee_kind = str(payload.get("payee") or "beneficiary")
    if item.contract_id is None or payload.get("rib") or payload.get("reissue_of"):
        return None
    if payee_kind not in ("employer", "beneficiary"):
        return None
    try:
        if to_millimes(payload.get("amount", 0)) <= 0:
            return None
    except SideEffectError:
        return None
    return payee_kind


def _stored_by_key(rows: Any) -> dict[str, Stored]:
    return {row[0]: Stored(*row[1:]) for row in rows}


def handle_payment_orders(aqd: Aqd, session: Session, items: list[OutboxItem]) -> BatchOutcome:
    """The batch form of :func:`handle_payment_order` (``engine.payments.register``).

    In the runner's transaction: the facts of every contract in one query, every new order in
    one ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING``; an order that already
    existed is answered from the stored row, as the per-item handler does. Whatever is not the
    simple case (see :func:`_simple`), and an order rejected at once (no usable account), is
    left to the per-item handler, so its outcome is exactly the per-item one."""
    at = aqd.clock.now()
    kinds = {item.id: kind for item in items if (kind := _simple(item)) is not None}
    if not kinds:
        return BatchOutcome()
    contracts = {item.contract_id for item in items if item.id in kinds and item.contract_id}
    facts = _facts_many(session, sorted(contracts))
    rows: list[tuple[OutboxItem, dict[str, Any]]] = []
    for item in items:
        payee_kind = kinds.get(item.id)
        of_contract = facts.get(item.contract_id or 0) if payee_kind else None
        if payee_kind is None or of_contract is None:
            continue
        values: dict[str, Any] | None
        try:
            values = _order_values(item, payee_kind, of_contract[payee_kind], "", at)
        except Exception:  # a payload the per-item handler will refuse (or retry) on its own
            values = None
        if values is not None and values["reject_reason"] is None:
            rows.append((item, values))
    if not rows:
        return BatchOutcome()
    rows.sort(key=lambda row: row[0].idempotency_key)  # one lock order for concurrent batches
    table: Any = PaymentOrder.__table__
    # executed with many parameter sets, SQLAlchemy sends this as one multi-row INSERT
    # ("insertmanyvalues", compiled once and cached) instead of one statement per order
    stored = _stored_by_key(
        session.execute(
            _insert(session)(table)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(*(table.c[c.key] for c in (PaymentOrder.idempotency_key, *_COLUMNS))),
            [values for _, values in rows],
        )
    )
    existing = [item.idempotency_key for item, _ in rows if item.idempotency_key not in stored]
    if existing:  # delivered again (a worker died after the insert): answer from the stored row
        query = select(PaymentOrder.idempotency_key, *_COLUMNS).where(
            PaymentOrder.idempotency_key.in_(existing)
        )
        stored.update(_stored_by_key(session.execute(query)))
    outcome = BatchOutcome()
    for item, _ in rows:
        order = stored.get(item.idempotency_key)
        if order is not None and not _rejected(order):
            outcome.awaiting[item.id] = _summary(order)
    return outcome
