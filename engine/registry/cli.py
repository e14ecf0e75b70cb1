"""``aqd registry …``: a job seeker's registry record and the counsellors' corrections of it,
each with its reason and, when given, its proof (engine/registry/record.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access.accounts import Principal, principal_of
from engine.cli_support import Refused, guard, open_engine, print_json
from engine.errors import NotFound
from engine.inbox.documents import Upload
from engine.models import User
from engine.registry.record import EDITABLE, card, change_fact

app = typer.Typer(no_args_is_help=True, help="The job-seeker registry, kept by counsellors.")


def _principal(session: Session, username: str) -> Principal:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        raise NotFound(f"no active user {username!r}")
    return principal_of(session, user)


@app.command("show")
def show_cmd(
    cin: str,
    user: Annotated[str, typer.Option(help="The member of the office's staff who reads it.")],
) -> None:
    """The job seeker's facts and the history of their changes (JSON)."""
    aqd = open_engine()

    def run() -> dict[str, Any]:
        with aqd.session() as session:
            return card(session, _principal(session, user), cin)

    print_json(guard(run))


@app.command("set")
def set_cmd(
    cin: str,
    field: Annotated[str, typer.Argument(help=", ".join(EDITABLE))],
    value: Annotated[str, typer.Argument(help="The new value; empty to clear an optional fact.")],
    reason: Annotated[str, typer.Option(help="Why the fact changes (kept in the history).")],
    user: Annotated[str, typer.Option(help="The counsellor who checked it.")],
    proof: Annotated[
        Path | None, typer.Option(help="The document it was checked against (PDF, PNG, JPEG).")
    ] = None,
) -> None:
    """Correct one fact of the job seeker's record, in one transaction."""
    aqd = open_engine()

    def run() -> str:
        document = None
        if proof is not None:
            try:
                document = Upload("proof", proof.name, proof.read_bytes())
            except OSError as exc:
                raise Refused(f"cannot read {proof}: {exc.strerror}") from None
        with aqd.session() as session, session.begin():
            change = change_fact(
                aqd.plugins,
                session,
                _principal(session, user),
                cin,
                field,
                value,
                reason,
                document,
                aqd.clock.now(),
            )
            return f"{cin}: {field} {change.before} -> {change.after}"

    typer.echo(guard(run))
