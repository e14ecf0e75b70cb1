"""``aqd employers …``: the employer's record the eligibility decisions read (legal status,
tax and CNSS certificates), each fact recorded by a counsellor with its proof."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from engine.cli_support import Refused, guard, open_engine, print_json
from engine.employers import (
    CERTIFICATES,
    LEGAL_STATUSES,
    Proof,
    employer_standing,
    record_certificate,
    record_of,
    record_status,
)
from engine.models import Employer

app = typer.Typer(no_args_is_help=True, help="The employer's checked record, with proofs.")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(f"{option} {text!r} is not a date like 2025-10-01") from None


def _proof(path: Path) -> Proof:
    try:
        return Proof(path.name, path.read_bytes())
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror}") from None


@app.command("status")
def status_cmd(
    matricule_fiscal: str,
    status: Annotated[str, typer.Argument(help=", ".join(LEGAL_STATUSES))],
    proof: Annotated[Path, typer.Option(help="The checked document (PDF, PNG or JPEG).")],
    user: Annotated[str, typer.Option(help="The counsellor who checked it.")],
    since: Annotated[str, typer.Option(help="Day from which the status holds.")] = "",
    note: str = "",
) -> None:
    """Record the employer's legal status (private firm, public administration, …)."""
    aqd = open_engine()

    def run() -> str:
        day = _day(since, "--since") if since else aqd.clock.now().date()
        document = _proof(proof)
        with aqd.session() as session, session.begin():
            record_status(
                session, matricule_fiscal, status, day, document, user, aqd.clock.now(), note
            )
        return f"{matricule_fiscal}: {status} from {day.isoformat()}"

    typer.echo(guard(run))


@app.command("certificate")
def certificate_cmd(
    matricule_fiscal: str,
    kind: Annotated[str, typer.Argument(help=" or ".join(CERTIFICATES))],
    reference: Annotated[str, typer.Option(help="The certificate's number.")],
    valid_from: Annotated[str, typer.Option(help="First day it is valid.")],
    valid_until: Annotated[str, typer.Option(help="Last day it is valid.")],
    proof: Annotated[Path, typer.Option(help="The certificate (PDF, PNG or JPEG).")],
    user: Annotated[str, typer.Option(help="The counsellor who checked it.")],
    note: str = "",
) -> None:
    """Record a tax or CNSS regularity certificate and the days it is valid."""
    aqd = open_engine()

    def run() -> str:
        start, end = _day(valid_from, "--valid-from"), _day(valid_until, "--valid-until")
        document = _proof(proof)
        with aqd.session() as session, session.begin():
            record_certificate(
                session,
                matricule_fiscal,
                kind,
                reference,
                start,
                end,
                document,
                user,
                aqd.clock.now(),
                note,
            )
        return f"{matricule_fiscal}: {kind} certificate valid {start} to {end}"

    typer.echo(guard(run))


@app.command("show")
def show_cmd(
    matricule_fiscal: str,
    on: Annotated[str, typer.Option(help="The day the decisions would read it.")] = "",
) -> None:
    """The employer's recorded facts and what the eligibility decisions read on a day (JSON)."""
    aqd = open_engine()

    def run() -> dict[str, Any]:
        day = _day(on, "--on") if on else aqd.clock.now().date()
        with aqd.session() as session:
            facts = record_of(session, matricule_fiscal)  # NotFound for an unknown employer
            employer = session.scalar(
                select(Employer.id).where(
                    Employer.matricule_fiscal == matricule_fiscal.strip().upper()
                )
            )
            moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            return {"facts": facts, "standing": employer_standing(session, employer, moment)}

    print_json(guard(run))
