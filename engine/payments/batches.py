"""Payment batches: the ``ordered`` payments of one office and period, written as one ISO 20022
pain.001.001.03 file (validated against the XSD before it is written) and one CSV file.

Taking the orders and creating the batch row is one transaction (orders are locked with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two concurrent runs never put an order in two
batches. The files are written after the commit and can be written again, byte for byte, from
the database (``aqd payments export``); the batch row keeps their SHA-256.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.config import Settings
from engine.errors import ConfigurationError, InvalidInput, NotFound
from engine.logs import get as get_logger
from engine.logs import timed
from engine.models.payments import PaymentBatch, PaymentOrder
from engine.payments.accounts import iban_from_rib, make_rib
from engine.payments.iso20022 import Debtor, Transfer, pain001, validate
from engine.payments.orders import format_millimes

CSV_COLUMNS = (
    "end_to_end_id",
    "contract_number",
    "programme",
    "office",
    "period",
    "contract_month",
    "payee_kind",
    "payee_name",
    "kind",
    "rib",
    "iban",
    "amount",
    "currency",
)
#: the development debtor account, used only in development mode when no IBAN is configured
DEV_IBAN = iban_from_rib(make_rib(1, 1, 1))
log = get_logger("payments")


def debtor_account(settings: Settings) -> Debtor:
    """The account the orders are paid from (``AQD_PAYMENTS_DEBTOR_*``).

    Production mode refuses to write a bank file without a configured IBAN; development mode
    falls back to :data:`DEV_IBAN` and logs that it did.
    """
    iban = settings.payments_debtor_iban.replace(" ", "").upper()
    if not iban:
        if settings.mode == "production":
            raise ConfigurationError(
                "no debtor account configured: set AQD_PAYMENTS_DEBTOR_IBAN "
                "(and AQD_PAYMENTS_DEBTOR_BIC, AQD_PAYMENTS_DEBTOR_NAME)",
                fields={"AQD_PAYMENTS_DEBTOR_IBAN": "required in production mode"},
            )
        log.info(  # expected in development mode; production mode refused above
            "payments: development debtor account used (AQD_PAYMENTS_DEBTOR_IBAN unset)",
            extra={"event": "payments.debtor", "outcome": "development_fallback"},
        )
        iban = DEV_IBAN
    return Debtor(name=settings.payments_debtor_name, iban=iban, bic=settings.payments_debtor_bic)


@dataclass
class BatchFiles:
    batch_id: int
    message_id: str
    orders: int
    total: str
    xml: bytes
    csv: bytes

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = (out_dir / f"{self.message_id}.xml", out_dir / f"{self.message_id}.csv")
        for path, data in zip(paths, (self.xml, self.csv), strict=True):
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return paths


def _check_period(period: str) -> None:
    try:
        datetime.strptime(period, "%Y-%m")
    except ValueError:
        raise InvalidInput(
            f"period {period!r} is not YYYY-MM", fields={"period": "YYYY-MM"}
        ) from None


def render(batch: PaymentBatch, orders: list[PaymentOrder], debtor: Debtor) -> tuple[bytes, bytes]:
    """The batch's pain.001 XML (schema-validated) and CSV, deterministic from the rows."""
    execution = (batch.created_at + timedelta(days=1)).date().isoformat()
    transfers = [
        Transfer(
            end_to_end_id=o.end_to_end_id,
            amount=format_millimes(o.amount_millimes),
            creditor_name=o.payee_name,
            creditor_iban=o.iban or "",
            remittance=f"{o.contract_number} M{o.contract_month} {o.kind} {o.period}",
        )
        for o in orders
    ]
    total = format_millimes(sum(o.amount_millimes for o in orders))
    xml = pain001(batch.message_id, batch.created_at, execution, debtor, transfers, total)
    validate(xml, "pain.001.001.03.xsd")  # never write a file the bank would refuse
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for o in orders:
        writer.writerow(
            (
                o.end_to_end_id,
                o.contract_number,
                o.programme,
                o.office_code,
                o.period,
                o.contract_month,
                o.payee_kind,
                o.payee_name,
                o.kind,
                o.rib or "",
                o.iban or "",
                format_millimes(o.amount_millimes),
                o.currency,
            )
        )
    return xml, text.getvalue().encode()


def create_batch(
    session: Session, office: str, period: str, at: datetime, actor: str, debtor: Debtor
) -> BatchFiles | None:
    """Put every ``ordered`` payment of ``office`` and ``period`` into a new batch (caller
    commits); None when there is nothing to pay. One log line (``payments.batch``) gives the
    batch, its orders and total, and how long it took."""
    with timed(log, "payments.batch", office=office, period=period, actor=actor) as line:
        files = _create_batch(session, office, period, at, actor, debtor)
        if files is None:
            line["outcome"] = "nothing_to_batch"
        else:
            line.update(batch=files.message_id, orders=files.orders, total=files.total)
        return files


def _create_batch(
    session: Session, office: str, period: str, at: datetime, actor: str, debtor: Debtor
) -> BatchFiles | None:
    _check_period(period)
    stmt = (
        select(PaymentOrder)
        .where(
            PaymentOrder.office_code == office,
            PaymentOrder.period == period,
            PaymentOrder.status == "ordered",
        )
        .order_by(PaymentOrder.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    orders = list(session.scalars(stmt))
    if not orders:
        return None
    seq = (
        session.scalar(
            select(func.count())
            .select_from(PaymentBatch)
            .where(PaymentBatch.office_code == office, PaymentBatch.period == period)
        )
        or 0
    ) + 1
    batch = PaymentBatch(
        message_id=f"AQD-{office}-{period}-{seq:04d}"[:35],
        office_code=office,
        period=period,
        orders=len(orders),
        total_millimes=sum(o.amount_millimes for o in orders),
        xml_sha256="",
        csv_sha256="",
        status="created",
        created_at=at.replace(microsecond=0),
        created_by=actor,
    )
    session.add(batch)
    session.flush()
    xml, data = render(batch, orders, debtor)
    batch.xml_sha256 = hashlib.sha256(xml).hexdigest()
    batch.csv_sha256 = hashlib.sha256(data).hexdigest()
    ids = [o.id for o in orders]
    for start in range(0, len(ids), 5000):
        session.execute(
            update(PaymentOrder)
            .where(PaymentOrder.id.in_(ids[start : start + 5000]))
            .values(status="batched", batch_id=batch.id, batched_at=at)
            # Not "evaluate": it tests the IN list against every order loaded in the session,
            # for every chunk (41 s for 25,000 orders an office); the loaded orders are
            # expired instead, so a later read sees the new status.
            .execution_options(synchronize_session=False)
        )
    for order in orders:
        session.expire(order)
    return BatchFiles(
        batch.id, batch.message_id, len(orders), format_millimes(batch.total_millimes), xml, data
    )


def export_batch(session: Session, batch_id: int, debtor: Debtor) -> BatchFiles:
    """Render an existing batch again; refuses if the bytes differ from the recorded hashes."""
    batch = session.get(PaymentBatch, batch_id)
    if batch is None:
        raise NotFound(f"payment batch {batch_id} not found")
    orders = list(
        session.scalars(
            select(PaymentOrder).where(PaymentOrder.batch_id == batch_id).order_by(PaymentOrder.id)
        )
    )
    xml, data = render(batch, orders, debtor)
    if (
        hashlib.sha256(xml).hexdigest() != batch.xml_sha256
        or hashlib.sha256(data).hexdigest() != batch.csv_sha256
    ):
        raise InvalidInput(f"batch {batch.message_id} no longer renders to its recorded hashes")
    return BatchFiles(
        batch.id, batch.message_id, len(orders), format_millimes(batch.total_millimes), xml, data
    )


def mark_sent(session: Session, batch_id: int, at: datetime) -> int:
    """The file went to the bank: its orders move from ``batched`` to ``sent``."""
    batch = session.get(PaymentBatch, batch_id)
    if batch is None:
        raise NotFound(f"payment batch {batch_id} not found")
    batch.status = "sent"
    result = session.execute(
        update(PaymentOrder)
        .where(PaymentOrder.batch_id == batch_id, PaymentOrder.status == "batched")
        .values(status="sent")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def open_periods(session: Session) -> list[tuple[str, str]]:
    """(office, period) pairs that have ``ordered`` payments."""
    rows = session.execute(
        select(PaymentOrder.office_code, PaymentOrder.period)
        .where(PaymentOrder.status == "ordered")
        .group_by(PaymentOrder.office_code, PaymentOrder.period)
        .order_by(PaymentOrder.office_code, PaymentOrder.period)
    )
    return [(r[0], r[1]) for r in rows]
