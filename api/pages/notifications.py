"""The caller's mailbox (notifications and one-time codes, marked read when opened) and where
their notifications go besides it: their e-mail address and phone (``/me/settings``), for every
role. With contact details the worker also sends them by e-mail or SMS
(``engine.notifications.delivery``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.auth import CallerDep
from api.deps import AqdDep, ReadSession, WriteSession
from api.pages.common import redirect, render
from engine import InvalidInput
from engine.access import accounts
from engine.notifications import notify as notifications

router = APIRouter(include_in_schema=False)


@router.get("/me/mailbox")
def mailbox(request: Request, caller: CallerDep, aqd: AqdDep, s: WriteSession) -> Response:
    notes = notifications.mailbox(s, caller.principal.username)
    notifications.mark_read(s, caller.principal.username, aqd.clock.now())
    return render(request, "mailbox.html", caller, notes=notes)


@router.get("/me/settings")
def settings_page(request: Request, caller: CallerDep, s: ReadSession) -> Response:
    values = notifications.contact_of(s, caller.principal.user_id)
    saved = request.query_params.get("saved") == "1"
    linked = accounts.oidc_linked(s, caller.principal)
    return render(
        request,
        "settings.html",
        caller,
        values=values,
        saved=saved,
        identity_linked=linked,
        notice=request.query_params.get("notice", ""),
    )


@router.post("/me/settings")
async def save_settings(request: Request, caller: CallerDep, s: WriteSession) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "")[:254] for k in ("email", "phone")}
    try:
        notifications.set_contact(s, caller.principal.user_id, values["email"], values["phone"])
    except InvalidInput as exc:
        s.rollback()  # the form is shown again: nothing of this attempt is kept
        return render(request, "settings.html", caller, 422, values=values, error=exc, saved=False)
    return redirect("/me/settings?saved=1")
