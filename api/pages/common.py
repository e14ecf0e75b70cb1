"""What every page module shares: the templates, rendering in the caller's language, redirects,
the session cookie and the small parsers of query strings and forms.

Pages work without JavaScript (plain forms, POST-redirect-GET); htmx only refreshes parts in
place when it is available. Permission and scope checks are the engine's
(``engine.inbox``); the page modules turn requests into calls and results into HTML.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from api.auth import ANON_CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE, Caller, anon_csrf
from api.i18n import LOCALES, translator
from engine import Aqd, EngineError, NotFound
from engine.access.accounts import SESSION_LIFETIME, Principal
from engine.config import cookies_secure, get_settings
from engine.dates import parse_date
from forms import pdfpages
from forms.pdfpages import PageImages
from forms.text import finalize

log = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
TEMPLATES.env.finalize = finalize  # no bidi override from user text (forms/text.py)
FLASHES = (
    "claimed", "released", "completed", "reassigned", "requested", "registered", "bulk",
    "action_done", "uploaded", "company_checked", "request_sent", "accepted", "declined",
    "fact_changed",
)  # fmt: skip


def locale_of(request: Request, caller: Caller | None) -> str:
    if caller is not None:
        return caller.principal.locale
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LOCALES:
        return cookie
    accept = request.headers.get("accept-language", "")
    return "ar" if accept.lower().startswith("ar") else "fr"


def home_of(principal: Principal) -> str:
    if principal.is_office_staff:
        return "/inbox"
    if principal.has("employer"):
        return "/employer"
    if principal.has("beneficiary"):
        return "/me"
    return "/contracts"


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default``: never scheme-relative (``//``),
    never a backslash (browsers read it as a slash), never a control character or space
    (browsers strip tabs and newlines, so ``/<TAB>/evil`` would become ``//evil``)."""
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and all(ch > " " and ch != "\x7f" for ch in value)
    ):
        return value
    return default


def render(
    request: Request,
    template: str,
    caller: Caller | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    t = translator(locale_of(request, caller))
    csrf = caller.csrf_token if caller is not None else anon_csrf(request)
    flash = request.query_params.get("flash")
    aqd: Aqd = request.app.state.aqd
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "_": t.gettext,
            "caller": caller,
            "me": caller.principal if caller else None,
            "csrf_token": csrf,
            "flash": flash if flash in FLASHES else None,
            "path": request.url.path,
            "oidc_enabled": bool(aqd.settings.oidc_issuer),
            "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        },
        status_code=status_code,
    )
    new_anon = getattr(request.state, "new_anon_csrf", "")
    if caller is None and new_anon:
        response.set_cookie(
            ANON_CSRF_COOKIE, new_anon, httponly=True, samesite="lax", secure=secure_cookies()
        )
    return response


def secure_cookies() -> bool:
    return cookies_secure(get_settings())


def set_session_cookie(response: Response, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(),
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(
    request: Request, caller: Caller | None, exc: EngineError, status_code: int | None = None
) -> HTMLResponse:
    return render(request, "error.html", caller, status_code or exc.status_code, error=exc)


def form_dict(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


def int_param(value: str | None, default: int) -> int:
    try:
        return max(0, min(int(value or ""), 100_000))
    except ValueError:
        return default


def date_param(value: str | None, field: str) -> date | None:
    """A ``YYYY-MM-DD`` query parameter: None when absent; a date that is not one or lies
    outside 1900-2100 is refused (422 naming ``field``)."""
    return parse_date(value, field)


def choice(value: str | None, allowed: tuple[str, ...], default: str) -> Any:
    return value if value in allowed else default


def page_images_of(pdf: bytes, key: str) -> PageImages | None:
    """The document's pages as images (drawn once, then from memory); None when they cannot
    be drawn here (no pdftoppm): the page then offers the PDF to download only."""
    try:
        return pdfpages.page_images(pdf, key)
    except pdfpages.PageImagesUnavailable:
        log.exception("page images unavailable")
        return None


def pages_context(images: PageImages | None, base: str) -> list[dict[str, Any]]:
    """What ``_pages.html`` shows: each page's image URL and size."""
    if images is None:
        return []
    return [
        {"src": f"{base}/{images.sha256}/{n}.png", "width": w, "height": h, "number": n}
        for n, (w, h) in enumerate(images.dimensions(), start=1)
    ]


def page_image(images: PageImages, sha256: str, page: int) -> Response:
    """One page image, or 404 when the document changed since the page was shown."""
    if images.sha256 != sha256 or not 1 <= page <= len(images.pages):
        raise NotFound("this page of the document does not exist (any more)")
    return Response(
        images.pages[page - 1],
        media_type="image/png",
        headers={"x-content-type-options": "nosniff"},
    )
