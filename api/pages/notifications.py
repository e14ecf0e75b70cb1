"""The caller's mailbox (notifications and one-time codes, marked read when opened) and where
their notifications go besides it: their e-mail address and phone (``/me/settings``), for every
role, applied once confirmed with codes (``engine.notifications.contacts``). With contact
details the worker also sends them by e-mail or SMS (``engine.notifications.delivery``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from api.auth import Caller, CallerDep
from api.deps import AqdDep, ReadSession, WriteSession
from api.pages.common import redirect, render
from engine import EngineError
from engine.access import accounts
from engine.notifications import contacts
from engine.notifications import notify as notifications

router = APIRouter(include_in_schema=False)


@router.get("/me/mailbox")
def mailbox(request: Request, caller: CallerDep, aqd: AqdDep, s: WriteSession) -> Response:
    notes = notifications.mailbox(s, caller.principal.username)
    notifications.mark_read(s, caller.principal.username, aqd.clock.now())
    return render(request, "mailbox.html", caller, notes=notes)


NOTICES = ("codes_sent", "verified", "confirmed_part", "identity_linked", "identity_unlinked")


def _settings(
    request: Request,
    caller: Caller,
    s: Session,
    status_code: int = 200,
    **context: Any,
) -> Response:
    details = contacts.details(s, caller.principal.user_id)
    notice = request.query_params.get("notice", "")
    return render(
        request,
        "settings.html",
        caller,
        status_code,
        details=details,
        values=context.pop("values", None) or details,
        saved=request.query_params.get("saved") == "1",
        identity_linked=accounts.oidc_linked(s, caller.principal),
        notice=notice if notice in NOTICES else "",
        **context,
    )


@router.get("/me/settings")
def settings_page(request: Request, caller: CallerDep, s: ReadSession) -> Response:
    return _settings(request, caller, s)


@router.post("/me/settings")
async def save_settings(request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    """Ask for the typed contact details: a new address waits for its codes
    (``engine.notifications.contacts``)."""
    form = await request.form()
    values = {k: str(form.get(k) or "")[:254] for k in ("email", "phone")}
    try:
        details = contacts.change(
            aqd, caller.principal.user_id, values, actor=caller.principal.username
        )
    except EngineError as exc:  # the form is shown again with what was typed
        with aqd.read_session() as s:
            return _settings(request, caller, s, exc.status_code, values=values, error=exc)
    if details["pending"]:
        return redirect("/me/settings?notice=codes_sent#pending")
    return redirect("/me/settings?saved=1")


@router.post("/me/settings/confirm")
async def confirm_settings(request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    """Enter the codes of a change waiting for them."""
    form = await request.form()
    change = str(form.get("change") or "")
    codes = {k: str(form.get(k) or "")[:12] for k in ("code", "current_code")}
    try:
        applied = contacts.confirm(
            aqd,
            caller.principal.user_id,
            int(change) if change.isdigit() else 0,
            code=codes["code"],
            current_code=codes["current_code"],
            actor=caller.principal.username,
        )
    except EngineError as exc:
        with aqd.read_session() as s:
            return _settings(
                request, caller, s, exc.status_code, confirm_error=exc, confirm_change=change
            )
    return redirect("/me/settings?notice=" + ("verified" if applied else "confirmed_part#pending"))
