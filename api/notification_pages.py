"""Where a user's notifications go: their e-mail address and phone (``/me/settings`` and
``/api/v1/me/contact``), for every role. Without them, messages stay in the mailbox
(``/me/mailbox``); with them, the worker also sends them by e-mail or SMS
(``engine.notifications.delivery``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api import web
from api.auth import CallerDep
from api.rest import AUTHED, errors
from engine import Aqd, InvalidInput
from engine.access import accounts
from engine.notifications import notify as notifications


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(default="", max_length=254, description="E-mail address ('' for none)")
    phone: str = Field(
        default="",
        max_length=32,
        description="Mobile phone: 8 Tunisian digits or + and the international number",
    )


def _aqd(request: Request) -> Aqd:
    aqd: Aqd = request.app.state.aqd
    return aqd


def _read(aqd: Aqd, user_id: int) -> dict[str, str]:
    with aqd.read_session() as s:
        return notifications.contact_of(s, user_id)


def _save(aqd: Aqd, user_id: int, email: str, phone: str) -> dict[str, str]:
    with aqd.session() as s, s.begin():
        return notifications.set_contact(s, user_id, email, phone)


def build_web_router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/me/settings")
    def settings_page(request: Request, caller: CallerDep) -> Response:
        values = _read(_aqd(request), caller.principal.user_id)
        saved = request.query_params.get("saved") == "1"
        with _aqd(request).read_session() as s:
            linked = accounts.oidc_linked(s, caller.principal)
        return web.render(
            request,
            "settings.html",
            caller,
            values=values,
            saved=saved,
            identity_linked=linked,
            notice=request.query_params.get("notice", ""),
        )

    @r.post("/me/settings")
    async def save_settings(request: Request, caller: CallerDep) -> Response:
        form = await request.form()
        values = {k: str(form.get(k) or "")[:254] for k in ("email", "phone")}
        try:
            _save(_aqd(request), caller.principal.user_id, values["email"], values["phone"])
        except InvalidInput as exc:
            return web.render(
                request, "settings.html", caller, 422, values=values, error=exc, saved=False
            )
        return web.redirect("/me/settings?saved=1")

    return r


def build_api_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["notifications"], responses=AUTHED)

    @r.get("/me/contact")
    def my_contact(request: Request, caller: CallerDep) -> Contact:
        """Where the caller's notifications are sent besides the mailbox."""
        return Contact(**_read(_aqd(request), caller.principal.user_id))

    @r.put("/me/contact", responses=errors(400))
    def set_my_contact(body: Contact, request: Request, caller: CallerDep) -> Contact:
        """Set (or clear, with "") the caller's e-mail address and phone; the phone is stored
        in international form (+216…)."""
        saved = _save(_aqd(request), caller.principal.user_id, body.email, body.phone)
        return Contact(**saved)

    return r
