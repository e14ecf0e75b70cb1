"""Reconciliation: the bank's (or La Poste's) result file goes back into the contracts.

Each result is one command, one transaction: lock the order, set it ``paid`` or ``rejected``,
and record the outcome of its ``payment_order`` side effect with ``Aqd.record_side_effect``,
which appends the contract event and delivers the reply the month waits for:
``payment_confirmed`` when paid, the order's ``reply_failed`` message (CIVP:
``payment_rejected`` → the counsellor's ``fix_payee_account`` task → one re-issued order) when
rejected; the payee's accounts get a ``payment_paid``/``payment_rejected`` notification in the
same transaction. Importing the same file twice changes nothing: a settled order is skipped.

Formats: ISO 20022 camt.054.001.02 (``iso20022.read_camt054``) or CSV with the header
``end_to_end_id,status,reason,bank_ref`` (status ``paid`` or ``rejected``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select

from engine.commands.aqd import Aqd
from engine.errors import EngineError, InvalidInput
from engine.models.payments import PaymentOrder
from engine.notifications import notify as notifications
from engine.payments.iso20022 import FileInvalid, Result, read_camt054
from engine.payments.orders import format_millimes

SETTLED = ("paid", "rejected", "reissued")


@dataclass
class Reconciliation:
    paid: int = 0
    rejected: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"paid {self.paid}, rejected {self.rejected}, already settled {self.duplicates}, "
            f"errors {len(self.errors)}"
        )


def read_csv(data: bytes) -> list[Result]:
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    needed = {"end_to_end_id", "status"}
    if reader.fieldnames is None or not needed <= set(reader.fieldnames):
        raise FileInvalid("CSV header must contain end_to_end_id,status[,reason,bank_ref]")
    results = []
    for n, row in enumerate(reader, 2):
        status = (row.get("status") or "").strip().lower()
        if status not in ("paid", "rejected"):
            raise FileInvalid(f"line {n}: status must be paid or rejected, not {status!r}")
        results.append(
            Result(
                end_to_end_id=(row.get("end_to_end_id") or "").strip(),
                paid=status == "paid",
                reason=(row.get("reason") or "").strip(),
                bank_ref=(row.get("bank_ref") or "").strip(),
            )
        )
    return results


def read_results(data: bytes) -> list[Result]:
    """camt.054 XML or CSV, told apart by the first non-blank byte."""
    if data.lstrip()[:1] == b"<":
        return read_camt054(data)
    return read_csv(data)


def apply_result(aqd: Aqd, result: Result, actor: str) -> str:
    """Settle one order from one bank result; returns paid, rejected or duplicate."""
    with aqd.session() as session, session.begin():
        stmt = select(PaymentOrder).where(PaymentOrder.end_to_end_id == result.end_to_end_id)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        order = session.scalars(stmt).first()
        if order is None:
            raise InvalidInput(f"unknown payment {result.end_to_end_id}")
        if order.status in SETTLED:
            return "duplicate"
        if order.status not in ("batched", "sent"):
            raise InvalidInput(f"payment {result.end_to_end_id} was never sent ({order.status})")
        now = aqd.clock.now()
        order.status = "paid" if result.paid else "rejected"
        order.settled_at = now
        order.bank_ref = result.bank_ref[:64] or None
        order.reject_reason = None if result.paid else (result.reason or "rejected")[:2000]
        outcome = {
            "status": order.status,
            "order": order.end_to_end_id,
            "amount": format_millimes(order.amount_millimes),
            "bank_ref": order.bank_ref or "",
        }
        if not result.paid:
            outcome["reason"] = order.reject_reason or ""
        aqd.record_side_effect(session, order.idempotency_key, result.paid, outcome, actor=actor)
        notifications.payment_settled(session, order, now)  # the payee learns it (same commit)
        return order.status


def reconcile(aqd: Aqd, data: bytes, actor: str = "reconciliation") -> Reconciliation:
    """Apply a whole result file; each line is its own transaction, errors are reported."""
    report = Reconciliation()
    for result in read_results(data):
        try:
            outcome = apply_result(aqd, result, actor)
        except EngineError as exc:
            report.errors.append(f"{result.end_to_end_id}: {exc}")
            continue
        if outcome == "paid":
            report.paid += 1
        elif outcome == "rejected":
            report.rejected += 1
        else:
            report.duplicates += 1
    return report
