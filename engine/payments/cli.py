"""``aqd payments …``: batches per office and period, bank results, payee accounts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from engine.cli_support import fail, open_engine
from engine.errors import EngineError
from engine.models import Beneficiary, Employer
from engine.models.payments import PaymentOrder
from engine.payments.accounts import valid_rib
from engine.payments.batches import (
    create_batch,
    debtor_account,
    export_batch,
    mark_sent,
    open_periods,
)
from engine.payments.devbank import answer
from engine.payments.orders import format_millimes, upsert_account
from engine.payments.reconcile import reconcile

app = typer.Typer(no_args_is_help=True, help="Payment orders, bank batches and reconciliation.")


@app.command("batch")
def batch_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the pain.001 XML and CSV files.")],
    office: Annotated[str | None, typer.Option(help="Office code (default: every office).")] = None,
    period: Annotated[
        str | None, typer.Option(help="YYYY-MM (default: every open period).")
    ] = None,
    actor: str = "cli",
) -> None:
    """Batch the ordered payments of an office and period into pain.001 + CSV files."""
    aqd = open_engine()
    try:
        with aqd.session() as session:
            pairs = [
                (o, p)
                for o, p in open_periods(session)
                if (office is None or o == office) and (period is None or p == period)
            ]
        if office and period and not pairs:
            pairs = [(office, period)]
        written = 0
        debtor = debtor_account(aqd.settings)
        for o, p in pairs:
            with aqd.session() as session, session.begin():
                files = create_batch(session, o, p, aqd.clock.now(), actor, debtor)
            if files is None:
                continue
            xml_path, csv_path = files.write(out)
            written += 1
            typer.echo(
                f"batch {files.batch_id} {files.message_id}: {files.orders} orders, "
                f"{files.total} TND -> {xml_path.name}, {csv_path.name}"
            )
        if not written:
            typer.echo("nothing to batch")
    except EngineError as exc:
        fail(exc.message)


@app.command("export")
def export_cmd(batch_id: int, out: Path) -> None:
    """Write an existing batch's files again (checked against the recorded hashes)."""
    aqd = open_engine()
    try:
        with aqd.session() as session:
            files = export_batch(session, batch_id, debtor_account(aqd.settings))
    except EngineError as exc:
        fail(exc.message)
    xml_path, csv_path = files.write(out)
    typer.echo(f"{xml_path}\n{csv_path}")


@app.command("mark-sent")
def mark_sent_cmd(batch_id: int) -> None:
    """Record that a batch's file was handed to the bank."""
    aqd = open_engine()
    try:
        with aqd.session() as session, session.begin():
            count = mark_sent(session, batch_id, aqd.clock.now())
    except EngineError as exc:
        fail(exc.message)
    typer.echo(f"{count} orders sent")


@app.command("import")
def import_cmd(path: Path, actor: str = "reconciliation") -> None:
    """Reconcile a bank result file (camt.054 XML or CSV) into the contracts."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    aqd = open_engine()
    try:
        report = reconcile(aqd, data, actor)
    except EngineError as exc:
        fail(exc.message)
    typer.echo(report.summary())
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    if report.errors:
        raise typer.Exit(1)


@app.command("list")
def list_cmd(
    office: str | None = None,
    period: str | None = None,
    status: str | None = None,
    contract: str | None = None,
    limit: int = 100,
) -> None:
    """List payment orders (newest first) and the count per status."""

    aqd = open_engine()
    filters = []
    if office:
        filters.append(PaymentOrder.office_code == office)
    if period:
        filters.append(PaymentOrder.period == period)
    if status:
        filters.append(PaymentOrder.status == status)
    if contract:
        filters.append(PaymentOrder.contract_number == contract)
    with aqd.session() as session:
        rows = session.scalars(
            select(PaymentOrder).where(*filters).order_by(PaymentOrder.id.desc()).limit(limit)
        )
        orders = [
            {
                "key": o.idempotency_key,
                "end_to_end_id": o.end_to_end_id,
                "office": o.office_code,
                "period": o.period,
                "amount": format_millimes(o.amount_millimes),
                "status": o.status,
                "batch": o.batch_id,
                "reason": o.reject_reason,
            }
            for o in rows
        ]
        counts = dict(
            session.execute(
                select(PaymentOrder.status, func.count())
                .where(*filters)
                .group_by(PaymentOrder.status)
            ).all()
        )
    typer.echo(json.dumps({"counts": counts, "orders": orders}, ensure_ascii=False, indent=2))


@app.command("set-account")
def set_account_cmd(
    rib: str,
    beneficiary: Annotated[str | None, typer.Option(help="Beneficiary CIN.")] = None,
    employer: Annotated[str | None, typer.Option(help="Employer matricule fiscal.")] = None,
    actor: str = "cli",
) -> None:
    """Record the RIB of a beneficiary or an employer (20 digits, key checked)."""

    if not valid_rib(rib):
        fail(f"{rib!r} is not a valid RIB (20 digits with a correct key)")
    if (beneficiary is None) == (employer is None):
        fail("give exactly one of --beneficiary or --employer")
    aqd = open_engine()
    with aqd.session() as session, session.begin():
        if beneficiary is not None:
            kind, found = (
                "beneficiary",
                session.scalar(select(Beneficiary.id).where(Beneficiary.cin == beneficiary)),
            )
        else:
            kind, found = (
                "employer",
                session.scalar(select(Employer.id).where(Employer.matricule_fiscal == employer)),
            )
        if found is None:
            fail(f"unknown {kind}")
        upsert_account(session, kind, found, rib, aqd.clock.now(), actor)
    typer.echo(f"{kind} account recorded")


@app.command("dev-bank")
def dev_bank_cmd(
    pain: Path,
    out: Path,
    reject: Annotated[
        list[str] | None, typer.Option(help="END_TO_END_ID=CODE[:text] to reject (repeatable).")
    ] = None,
) -> None:
    """Development bank: answer a pain.001 file with a camt.054 notification."""
    aqd = open_engine()
    rejects = dict(r.split("=", 1) for r in (reject or []) if "=" in r)
    try:
        out.write_bytes(answer(pain.read_bytes(), aqd.clock.now(), rejects))
    except EngineError as exc:
        fail(exc.message)
    typer.echo(str(out))
