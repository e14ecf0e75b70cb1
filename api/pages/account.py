"""Signing in and out, the language switch, the role's home page and employer sign-up."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import LANG_COOKIE, SESSION_COOKIE, CallerDep, OptionalCallerDep, client_ip
from api.deps import AqdDep
from api.i18n import normalise
from api.pages.common import (
    form_dict,
    home_of,
    locale_of,
    redirect,
    render,
    safe_next,
    secure_cookies,
    set_session_cookie,
)
from api.pages.companies import company_uploads
from engine import EngineError, inbox
from engine.access import accounts
from engine.employers import registration

router = APIRouter(include_in_schema=False)

GOVERNORATES = (
    "Ariana", "Béja", "Ben Arous", "Bizerte", "Gabès", "Gafsa", "Jendouba", "Kairouan",
    "Kasserine", "Kébili", "Le Kef", "Mahdia", "La Manouba", "Médenine", "Monastir", "Nabeul",
    "Sfax", "Sidi Bouzid", "Siliana", "Sousse", "Tataouine", "Tozeur", "Tunis", "Zaghouan",
)  # fmt: skip
SECTORS = (
    "agroalimentaire", "commerce", "industrie", "informatique", "services", "tourisme", "autre"
)  # fmt: skip


@router.get("/")
def index(caller: OptionalCallerDep) -> Response:
    return redirect(home_of(caller.principal) if caller else "/login")


@router.get("/login")
def login_page(request: Request, caller: OptionalCallerDep) -> Response:
    if caller is not None:
        return redirect(home_of(caller.principal))
    return render(request, "login.html", None, next=request.query_params.get("next", ""))


@router.post("/login")
async def login(request: Request, caller: OptionalCallerDep, aqd: AqdDep) -> Response:
    form = form_dict(await request.form())
    try:
        principal = accounts.authenticate(
            aqd, form.get("username", ""), form.get("password", ""), client_ip(request)
        )
    except EngineError as exc:
        return render(
            request,
            "login.html",
            None,
            exc.status_code,
            error=exc,
            username=form.get("username", ""),
            next=form.get("next", ""),
        )
    secret, _csrf = accounts.open_session(
        aqd, principal, client_ip(request), request.headers.get("user-agent", "")
    )
    response = redirect(safe_next(form.get("next"), home_of(principal)))
    set_session_cookie(response, secret)
    response.set_cookie(LANG_COOKIE, principal.locale, samesite="lax", secure=secure_cookies())
    return response


@router.post("/logout")
def logout(caller: CallerDep, aqd: AqdDep) -> Response:
    if caller.via == "session":
        accounts.close_session(aqd, caller.secret)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/language")
async def language(request: Request, caller: OptionalCallerDep, aqd: AqdDep) -> Response:
    form = form_dict(await request.form())
    lang = normalise(form.get("lang"))
    if caller is not None:
        accounts.set_locale(aqd, caller.principal, lang)
    response = redirect(safe_next(form.get("next")))
    response.set_cookie(LANG_COOKIE, lang, samesite="lax", secure=secure_cookies())
    return response


def register_page(
    request: Request,
    aqd: AqdDep,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    error: EngineError | None = None,
) -> HTMLResponse:
    with aqd.read_session() as s:
        offices = inbox.offices(s)
    return render(
        request,
        "register.html",
        None,
        status_code,
        values=values or {},
        error=error,
        offices=offices,
        governorates=GOVERNORATES,
        sectors=SECTORS,
    )


@router.get("/register")
def register_form(request: Request, caller: OptionalCallerDep, aqd: AqdDep) -> Response:
    if caller is not None:
        return redirect(home_of(caller.principal))
    return register_page(request, aqd)


@router.post("/register")
async def register(request: Request, caller: OptionalCallerDep, aqd: AqdDep) -> Response:
    form, uploads = await company_uploads(request)
    form.setdefault("locale", locale_of(request, None))
    try:  # pending until its office checks the proofs it sends along (or later)
        principal = registration.register(aqd, form, uploads)
    except EngineError as exc:
        form.pop("password", None)
        return register_page(request, aqd, exc.status_code, form, exc)
    secret, _csrf = accounts.open_session(
        aqd, principal, client_ip(request), request.headers.get("user-agent", "")
    )
    # a contact given waits for the code sent to it, entered in the contact details
    waiting = bool(form.get("phone", "").strip() or form.get("email", "").strip())
    target = "/me/settings?notice=codes_sent#pending" if waiting else "/employer?flash=registered"
    response = redirect(target)
    set_session_cookie(response, secret)
    return response
