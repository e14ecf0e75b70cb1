"""``aqd contacts …``: the office records a contact it checked (verified at once), and the
record of an account's contact verifications."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy import select

from engine.cli_support import fail, open_engine
from engine.errors import EngineError
from engine.models import User
from engine.notifications import contacts

app = typer.Typer(no_args_is_help=True, help="Verified contacts (where signing codes go).")


@app.command("record")
def record_cmd(
    by: Annotated[str, typer.Option(help="The office staff member who checked the contact.")],
    beneficiary: Annotated[
        str | None, typer.Option(help="A job seeker's CIN: the registry and their accounts.")
    ] = None,
    user: Annotated[str | None, typer.Option(help="One account's username.")] = None,
    phone: Annotated[str | None, typer.Option(help="Mobile phone ('' removes it).")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address ('' removes it).")] = None,
) -> None:
    """Record a phone or e-mail address the office checked (in person, on papers): verified at
    once, so signing codes go there; the old address is told. How someone who lost the phone
    their codes went to gets back in."""
    aqd = open_engine()
    try:
        with aqd.session() as session, session.begin():
            changed = contacts.record_by_office(
                aqd,
                session,
                actor=by,
                phone=phone,
                email=email,
                beneficiary_cin=beneficiary,
                username=user,
            )
    except EngineError as exc:
        fail(str(exc))
    typer.echo(f"contact recorded by the office ({len(changed)} account(s) updated)")


@app.command("history")
def history_cmd(username: str) -> None:
    """An account's contact events (JSON lines, newest first): what was asked, sent, confirmed,
    verified or recorded by the office, and when."""
    aqd = open_engine()
    with aqd.session() as session:
        user_id = session.scalar(select(User.id).where(User.username == username.lower()))
        if user_id is None:
            fail(f"no account {username!r}")
        for event in contacts.history(session, user_id):
            typer.echo(json.dumps(event, default=str, ensure_ascii=False))
