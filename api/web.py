# size: one router of every page; being split into api/pages/ (issue 17, item 3).
"""Server-rendered pages (Jinja2): sign-in, the counsellor inbox, task pages, contracts, the
employer portal and the beneficiary's page, in Arabic (RTL) and French.

Pages work without JavaScript (plain forms, POST-redirect-GET); htmx only refreshes the inbox
table in place when it is available. Permission and scope checks are the engine's
(``engine.inbox``); this module turns requests into calls and results into HTML.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

from api import reports
from api.auth import (
    ANON_CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    Caller,
    CallerDep,
    OptionalCallerDep,
    anon_csrf,
    client_ip,
)
from api.forms_render import coerce, fields_of
from api.i18n import LOCALES, Translator, normalise, translator
from engine import (
    Aqd,
    Conflict,
    EngineError,
    InvalidInput,
    NotFound,
    NotPermitted,
    analytics,
    inbox,
)
from engine.access import accounts, scope
from engine.access.accounts import SESSION_LIFETIME, Principal
from engine.audit import anchors, replay
from engine.audit import verification_runs as verification
from engine.commands import contract_actions
from engine.commands import version_migration as migration
from engine.config import cookies_secure, get_settings
from engine.definitions import drafts as modeller
from engine.inbox import documents
from forms.text import finalize
from signing import documents as contract_documents
from signing import requests as signature_requests

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
TEMPLATES.env.finalize = finalize  # no bidi override from user text (forms/text.py)
GOVERNORATES = (
    "Ariana", "Béja", "Ben Arous", "Bizerte", "Gabès", "Gafsa", "Jendouba", "Kairouan",
    "Kasserine", "Kébili", "Le Kef", "Mahdia", "La Manouba", "Médenine", "Monastir", "Nabeul",
    "Sfax", "Sidi Bouzid", "Siliana", "Sousse", "Tataouine", "Tozeur", "Tunis", "Zaghouan",
)  # fmt: skip
SECTORS = (
    "agroalimentaire", "commerce", "industrie", "informatique", "services", "tourisme", "autre"
)  # fmt: skip
# Start-form fields the portal fills itself (from the account, the candidate and the date).
AUTO_FILLED = frozenset({"office", "employer_mf", "beneficiary_cin", "request_date"})
#: Contract statuses a migration is usually aimed at (the selection form's choices).
MIGRATABLE_STATUSES = ("requested", "in_review", "awaiting_signature", "active")
FLASHES = (
    "claimed", "released", "completed", "reassigned", "requested", "registered", "bulk",
    "action_done",
)  # fmt: skip


def _aqd(request: Request) -> Aqd:
    aqd: Aqd = request.app.state.aqd
    return aqd


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
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
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
            "oidc_enabled": bool(_aqd(request).settings.oidc_issuer),
            "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        },
        status_code=status_code,
    )
    new_anon = getattr(request.state, "new_anon_csrf", "")
    if caller is None and new_anon:
        response.set_cookie(
            ANON_CSRF_COOKIE, new_anon, httponly=True, samesite="lax", secure=_secure()
        )
    return response


def _secure() -> bool:
    return cookies_secure(get_settings())


def _set_session_cookie(response: Response, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(),
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(
    request: Request, caller: Caller | None, exc: EngineError, status_code: int | None = None
) -> HTMLResponse:
    return render(request, "error.html", caller, status_code or exc.status_code, error=exc)


def _form_dict(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _require(caller: Caller, ok: bool) -> None:
    if not ok:
        raise NotPermitted("this page is not part of your role")


def build_router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/")
    def index(caller: OptionalCallerDep) -> Response:
        return redirect(home_of(caller.principal) if caller else "/login")

    @r.get("/login")
    def login_page(request: Request, caller: OptionalCallerDep) -> Response:
        if caller is not None:
            return redirect(home_of(caller.principal))
        return render(request, "login.html", None, next=request.query_params.get("next", ""))

    @r.post("/login")
    async def login(request: Request, caller: OptionalCallerDep) -> Response:
        form = _form_dict(await request.form())
        aqd = _aqd(request)
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
        _set_session_cookie(response, secret)
        response.set_cookie(LANG_COOKIE, principal.locale, samesite="lax", secure=_secure())
        return response

    @r.post("/logout")
    def logout(request: Request, caller: CallerDep) -> Response:
        if caller.via == "session":
            accounts.close_session(_aqd(request), caller.secret)
        response = redirect("/login")
        response.delete_cookie(SESSION_COOKIE)
        return response

    @r.post("/language")
    async def language(request: Request, caller: OptionalCallerDep) -> Response:
        form = _form_dict(await request.form())
        lang = normalise(form.get("lang"))
        if caller is not None:
            accounts.set_locale(_aqd(request), caller.principal, lang)
        response = redirect(safe_next(form.get("next")))
        response.set_cookie(LANG_COOKIE, lang, samesite="lax", secure=_secure())
        return response

    # -- inbox -----------------------------------------------------------------------------------

    @r.get("/inbox")
    def inbox_page(request: Request, caller: CallerDep) -> Response:
        p = caller.principal
        _require(caller, p.is_office_staff or p.reads_everything)
        q = request.query_params
        f = inbox.InboxFilter(
            programme=q.get("programme") or None,
            step=q.get("step") or None,
            due_before=_date(q.get("due_before")),
            overdue=q.get("overdue") == "1",
            assigned=_choice(q.get("assigned"), ("any", "me", "unassigned", "others"), "any"),
            q=(q.get("q") or "")[:100] or None,
            sort=_choice(q.get("sort"), ("due", "ready", "-ready", "contract"), "due"),
            page=_int(q.get("page"), 1),
            per_page=_int(q.get("per_page"), 25),
        )
        aqd = _aqd(request)
        with aqd.read_session() as s:
            page = inbox.inbox(s, p, f, aqd.clock.now())
            facets = inbox.inbox_facets(s, p)
            team = (
                inbox.office_counsellors(s, p.office_id)
                if p.has("office_head") and p.office_id is not None
                else []
            )
        params = {k: v for k, v in q.items() if k != "page" and v}
        template = "inbox_table.html" if request.headers.get("hx-request") else "inbox.html"
        return render(
            request,
            template,
            caller,
            page=page,
            f=f,
            facets=facets,
            team=team,
            base_query=urlencode(params),
        )

    @r.post("/inbox/bulk")
    async def inbox_bulk(request: Request, caller: CallerDep) -> Response:
        form = await request.form()
        guids = [g for g in form.getlist("guid") if isinstance(g, str)][:200]
        action = form.get("action")
        aqd, done, failed = _aqd(request), 0, 0
        for guid in guids:
            try:
                if action == "claim":
                    inbox.claim(aqd, caller.principal, guid)
                elif action == "reassign":
                    inbox.reassign(
                        aqd,
                        caller.principal,
                        guid,
                        str(form.get("assignee") or "") or None,
                        str(form.get("reason") or ""),
                    )
                else:
                    raise InvalidInput("unknown action", fields={"action": "claim or reassign"})
                done += 1
            except EngineError:
                failed += 1
        back = safe_next(str(form.get("next") or ""), "/inbox")
        sep = "&" if "?" in back else "?"
        return redirect(f"{back}{sep}flash=bulk&done={done}&failed={failed}")

    # -- tasks ----------------------------------------------------------------------------------

    def task_page(
        request: Request,
        caller: Caller,
        guid: str,
        status_code: int = 200,
        values: dict[str, Any] | None = None,
        error: EngineError | None = None,
    ) -> HTMLResponse:
        aqd = _aqd(request)
        with aqd.read_session() as s:
            detail = inbox.task_detail(s, caller.principal, guid, aqd.clock.now())
            p = caller.principal
            team = (
                inbox.office_counsellors(s, p.office_id)
                if p.has("office_head") and p.office_id is not None
                else []
            )
            found = scope.visible_contract(s, p, detail["contract"]["id"])
            # The employer may refuse the offer instead of filling the agreement.
            can_decline = any(
                a["key"] == "employer_decline" for a in contract_actions.available(s, p, found)
            )
        t: Translator = translator(locale_of(request, caller))
        task = detail["task"]
        form_fields = (
            fields_of(
                task["form"],
                t,
                values if values is not None else task["data"],
                error.fields if error is not None else None,
            )
            if task["form"]
            else []
        )
        return render(
            request,
            "task.html",
            caller,
            status_code,
            task=task,
            contract=detail["contract"],
            fields=form_fields,
            error=error,
            team=team,
            can_decline=can_decline,
        )

    @r.get("/tasks/{guid}")
    def task_view(guid: str, request: Request, caller: CallerDep) -> Response:
        return task_page(request, caller, guid)

    @r.post("/tasks/{guid}/claim")
    def task_claim(guid: str, request: Request, caller: CallerDep) -> Response:
        inbox.claim(_aqd(request), caller.principal, guid)
        return redirect(f"/tasks/{quote(guid)}?flash=claimed")

    @r.post("/tasks/{guid}/release")
    def task_release(guid: str, request: Request, caller: CallerDep) -> Response:
        inbox.claim(_aqd(request), caller.principal, guid, release=True)
        return redirect(f"/tasks/{quote(guid)}?flash=released")

    @r.post("/tasks/{guid}/reassign")
    async def task_reassign(guid: str, request: Request, caller: CallerDep) -> Response:
        form = _form_dict(await request.form())
        inbox.reassign(
            _aqd(request),
            caller.principal,
            guid,
            form.get("assignee") or None,
            form.get("reason", ""),
        )
        return redirect(f"/tasks/{quote(guid)}?flash=reassigned")

    @r.get("/contracts/{ref}/contract.pdf")
    def contract_pdf(ref: str, request: Request, caller: CallerDep) -> Response:
        aqd = _aqd(request)
        with aqd.read_session() as s:
            terms = inbox.contract_terms(aqd, s, caller.principal, ref)
        document = contract_documents.render(terms)
        return Response(
            document.pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{terms["number"]}.pdf"',
                "X-Content-SHA256": document.sha256,
            },
        )

    @r.get("/documents/{document_id}")
    def document_download(document_id: int, request: Request, caller: CallerDep) -> Response:
        with _aqd(request).read_session() as s:
            doc = documents.get(s, caller.principal, document_id)
            return Response(
                doc.content,
                media_type=doc.content_type,
                headers={
                    "Content-Disposition": f'inline; filename="{quote(doc.filename)}"',
                    "X-Content-Type-Options": "nosniff",
                    "Content-Security-Policy": "sandbox",
                },
            )

    @r.post("/tasks/{guid}/complete")
    async def task_complete(guid: str, request: Request, caller: CallerDep) -> Response:
        uploads = []
        async with request.form(max_part_size=documents.MAX_BYTES + 1) as raw:
            form = _form_dict(raw)
            for name, value in raw.multi_items():
                if isinstance(value, UploadFile) and value.filename:
                    content = await value.read(documents.MAX_BYTES + 1)
                    uploads.append(documents.Upload(name, value.filename, content))
        aqd = _aqd(request)
        with aqd.read_session() as s:
            detail = inbox.task_detail(s, caller.principal, guid, aqd.clock.now())
        schema = detail["task"]["form"] or {}
        data = coerce(schema, form)
        revision = _int(form.get("expected_revision"), -1)
        try:
            inbox.complete(
                aqd,
                caller.principal,
                guid,
                data,
                revision if revision >= 0 else None,
                uploads=uploads,
            )
        except InvalidInput as exc:
            return task_page(request, caller, guid, 422, values=data, error=exc)
        return redirect(f"{home_of(caller.principal)}?flash=completed")

    # -- contracts ---------------------------------------------------------------------------------

    @r.get("/contracts")
    def contracts_page(request: Request, caller: CallerDep) -> Response:
        q = request.query_params
        with _aqd(request).read_session() as s:
            page = inbox.list_contracts(
                s,
                caller.principal,
                programme=q.get("programme") or None,
                status=q.get("status") or None,
                q=(q.get("q") or "")[:100] or None,
                page=_int(q.get("page"), 1),
                per_page=25,
            )
        params = {k: v for k, v in q.items() if k != "page" and v}
        return render(
            request, "contracts.html", caller, page=page, q=q, base_query=urlencode(params)
        )

    def contract_view(
        request: Request,
        caller: Caller,
        ref: str,
        status_code: int = 200,
        failed: str | None = None,
        values: dict[str, Any] | None = None,
        error: EngineError | None = None,
    ) -> HTMLResponse:
        aqd = _aqd(request)
        with aqd.read_session() as s:
            found = scope.visible_contract(s, caller.principal, ref)
            detail = inbox.contract_detail(s, caller.principal, found, aqd.clock.now())
            detail["revision"] = found.revision
            signatures = signature_requests.requests_of(s, found.id)
            offered = contract_actions.available(s, caller.principal, found)
        t: Translator = translator(locale_of(request, caller))
        actions = [
            {
                **a,
                "title": t.label(a["form"], a["key"]),
                "open": a["key"] == (failed or request.query_params.get("open")),
                "error": error if a["key"] == failed else None,
                "fields": fields_of(
                    a["form"],
                    t,
                    values if a["key"] == failed else None,
                    error.fields if error is not None and a["key"] == failed else None,
                ),
            }
            for a in offered
        ]
        return render(
            request,
            "contract.html",
            caller,
            status_code,
            contract=detail,
            signatures=signatures,
            actions=actions,
            action_error=error if failed and failed not in {a["key"] for a in offered} else None,
        )

    @r.get("/contracts/{ref}")
    def contract_page(ref: str, request: Request, caller: CallerDep) -> Response:
        return contract_view(request, caller, ref)

    @r.post("/contracts/{ref}/actions/{key}")
    async def contract_action(ref: str, key: str, request: Request, caller: CallerDep) -> Response:
        """Suspend, resume, end early or ask to extend a contract (its lifecycle messages)."""
        action = contract_actions.BY_KEY.get(key)
        if action is None:
            raise NotFound(f"no contract action {key!r}")
        async with request.form() as raw:
            form = _form_dict(raw)
        schema = contract_actions.action_form(action)
        data = coerce(schema, form)
        revision = _int(form.get("expected_revision"), -1)
        aqd = _aqd(request)
        try:
            contract_actions.perform(
                aqd, caller.principal, ref, key, data, revision if revision >= 0 else None
            )
        except (InvalidInput, Conflict) as exc:
            return contract_view(
                request, caller, ref, exc.status_code, failed=key, values=data, error=exc
            )
        return redirect(f"/contracts/{quote(ref)}?flash=action_done")

    def history_page(
        request: Request, caller: Caller, ref: str, report: dict[str, Any] | None = None
    ) -> HTMLResponse:
        aqd = _aqd(request)
        with aqd.read_session() as s:
            found = scope.audit_contract(s, caller.principal, ref)
            detail = inbox.contract_detail(s, caller.principal, found, aqd.clock.now())
            history = replay.history_of(s, found.id)
        events = history["events"]
        at = _int(request.query_params.get("at"), len(events)) or len(events)
        at = min(max(at, 1), len(events)) if events else 0
        moment = replay.state_at(history, at, aqd.runner) if events else None
        instance = request.query_params.get("instance", "main")
        if moment is not None and instance not in moment["instances"]:
            instance = "main"
        return render(
            request,
            "history.html",
            caller,
            contract=detail,
            events=events,
            at=at,
            moment=moment,
            report=report,
            instance=instance,
        )

    @r.get("/contracts/{ref}/history")
    def contract_history(ref: str, request: Request, caller: CallerDep) -> Response:
        return history_page(request, caller, ref)

    @r.post("/contracts/{ref}/verify")
    def contract_verify(ref: str, request: Request, caller: CallerDep) -> Response:
        aqd = _aqd(request)
        with aqd.read_session() as s:
            found = scope.audit_contract(s, caller.principal, ref)
            report = replay.replay_contract(aqd, s, found.id).to_dict()
        return history_page(request, caller, ref, report)

    # -- batch verification ------------------------------------------------------------------

    def verifications_view(
        request: Request, caller: Caller, anchors_report: dict[str, Any] | None = None
    ) -> Response:
        aqd = _aqd(request)
        with aqd.read_session() as s:
            runs = verification.list_runs(s, caller.principal, aqd.clock.now())
            offices = inbox.offices(s)
            latest = anchors.list_anchors(s, 5)
        if not (
            caller.principal.roles & verification.AUDITORS or caller.principal.has("office_head")
        ):
            raise NotPermitted("batch verification is for auditors and office heads")
        template = (
            "verification_runs.html" if request.headers.get("hx-request") else "verifications.html"
        )
        return render(
            request,
            template,
            caller,
            runs=runs,
            offices=offices,
            anchors=latest,
            anchors_report=anchors_report,
        )

    @r.get("/verifications")
    def verifications_page(request: Request, caller: CallerDep) -> Response:
        return verifications_view(request, caller)

    @r.post("/verifications/anchors")
    def verify_anchors_page(request: Request, caller: CallerDep) -> Response:
        """Rebuild every anchor's root and check its token (auditors; under a second at
        150,000 contracts an hour)."""
        if not caller.principal.roles & verification.AUDITORS:
            raise NotPermitted("the anchors are verified by auditors")
        report = anchors.verify_anchors(_aqd(request)).to_dict()
        return verifications_view(request, caller, report)

    @r.post("/verifications")
    async def verification_start(request: Request, caller: CallerDep) -> Response:
        form = _form_dict(await request.form())
        aqd = _aqd(request)
        sample = _int(form.get("sample"), 0) or None
        run_id = verification.request_run(
            aqd,
            caller.principal,
            office=form.get("office") or None,
            programme=form.get("programme") or None,
            sample=sample,
            signatures=form.get("signatures") == "on",
        )
        verification.start_in_background(aqd, run_id)
        return redirect(f"/verifications#run-{run_id}")

    # -- modeller ----------------------------------------------------------------------------------

    @r.get("/modeller")
    def modeller_index(request: Request, caller: CallerDep) -> Response:
        modeller.require_editor(caller.principal)
        with _aqd(request).read_session() as s:
            names = modeller.programmes(s)
        return render(request, "modeller_index.html", caller, programmes=names)

    @r.get("/modeller/{programme}")
    def modeller_page(programme: str, request: Request, caller: CallerDep) -> Response:
        modeller.require_editor(caller.principal)
        with _aqd(request).read_session() as s:
            current = modeller.source(s, programme, request.query_params.get("file"))
            history = modeller.versions(s, programme)
        return render(request, "modeller.html", caller, current=current, versions=history)

    # -- migrations of running contracts (programme managers) -----------------------------------

    def migrations_page(
        request: Request, caller: Caller, programme: str, **context: Any
    ) -> HTMLResponse:
        migration.require_migrator(caller.principal.roles)
        with _aqd(request).read_session() as s:
            history = modeller.versions(s, programme)
            batches = migration.list_batches(s, programme)
        return render(
            request,
            "migrations.html",
            caller,
            programme=programme,
            versions=history,
            batches=batches,
            statuses=MIGRATABLE_STATUSES,
            **context,
        )

    def _selection(programme: str, form: FormData) -> migration.Selection:
        def ints(name: str) -> list[int]:
            return [_int(str(v), 0) for v in form.getlist(name) if str(v).strip()]

        to = ints("to_version")
        return migration.Selection(
            programme=programme,
            to_version=to[0] if to else None,
            from_versions=[v for v in ints("from_version") if v],
            statuses=[str(v) for v in form.getlist("status") if str(v).strip()],
        )

    @r.get("/modeller/{programme}/migrations")
    def migrations(programme: str, request: Request, caller: CallerDep) -> Response:
        return migrations_page(request, caller, programme)

    @r.post("/modeller/{programme}/migrations/dry-run")
    async def migration_dry_run(programme: str, request: Request, caller: CallerDep) -> Response:
        migration.require_migrator(caller.principal.roles)
        selection = _selection(programme, await request.form())
        report = _aqd(request).migration_dry_run(selection).to_dict()
        return migrations_page(request, caller, programme, report=report, selection=selection)

    @r.post("/modeller/{programme}/migrations")
    async def migration_run(programme: str, request: Request, caller: CallerDep) -> Response:
        migration.require_migrator(caller.principal.roles)
        form = await request.form()
        selection = _selection(programme, form)
        note = str(form.get("note") or "")
        result = _aqd(request).migrate_contracts(selection, caller.principal.username, note)
        return redirect(f"/modeller/{quote(programme)}/migrations/{result.batch_id}")

    @r.get("/modeller/{programme}/migrations/{batch_id}")
    def migration_batch(
        programme: str, batch_id: int, request: Request, caller: CallerDep
    ) -> Response:
        migration.require_migrator(caller.principal.roles)
        with _aqd(request).read_session() as s:
            batch = migration.batch_detail(s, batch_id)
        return migrations_page(request, caller, programme, batch=batch)

    @r.post("/modeller/{programme}/migrations/{batch_id}/rollback")
    async def migration_rollback(
        programme: str, batch_id: int, request: Request, caller: CallerDep
    ) -> Response:
        migration.require_migrator(caller.principal.roles)
        form = _form_dict(await request.form())
        aqd = _aqd(request)
        result = aqd.rollback_migration(batch_id, caller.principal.username, form.get("reason", ""))
        with aqd.read_session() as s:
            batch = migration.batch_detail(s, batch_id)
        return migrations_page(request, caller, programme, batch=batch, rollback=result.to_dict())

    # -- analytics ---------------------------------------------------------------------------------

    def _analytics_rows(request: Request, caller: Caller) -> tuple[Any, list[dict[str, Any]]]:
        q = request.query_params
        scope = analytics.scope_for(
            caller.principal, (q.get("programme") or "")[:64], (q.get("office") or "")[:32]
        )
        with _aqd(request).read_session() as s:
            scope = analytics.resolve_scope(s, scope)
            return scope, analytics.step_report(s, scope)

    @r.get("/analytics")
    def analytics_page(request: Request, caller: CallerDep) -> Response:
        scope, rows = _analytics_rows(request, caller)
        longest = max((float(row["median_hours"]) for row in rows), default=0.0) or 1.0
        evidence = None
        if scope.programme and caller.principal.roles & analytics.ANALYSTS:
            with _aqd(request).read_session() as s:
                try:
                    evidence = analytics.evidence(s, scope.programme, resamples=300)
                except InvalidInput:
                    evidence = None
        with _aqd(request).read_session() as s:
            offices = inbox.offices(s)
            programmes = inbox.programmes_open_for_requests(s, _aqd(request).clock.now())
            lead_times = analytics.lead_time_table(analytics.lead_time_report(s, scope))
        params = {k: v for k, v in request.query_params.items() if v}
        return render(
            request,
            "analytics.html",
            caller,
            rows=rows,
            longest=longest,
            lead_times=lead_times,
            longest_lead=max(
                (
                    float(line[m]["median_days"])
                    for line in lead_times
                    for m in analytics.MILESTONES
                    if line[m]
                ),
                default=0.0,
            )
            or 1.0,
            scope=scope,
            evidence=evidence,
            offices=offices,
            programmes=programmes,
            query=urlencode(params),
            report_month=(_aqd(request).clock.now().replace(day=1) - timedelta(days=1)).strftime(
                "%Y-%m"
            ),
        )

    @r.get("/analytics/report.pdf")
    def analytics_report(request: Request, caller: CallerDep) -> Response:
        """The month's printable report, scoped as the analytics page."""
        q = request.query_params
        scope = analytics.scope_for(
            caller.principal, (q.get("programme") or "")[:64], (q.get("office") or "")[:32]
        )
        month = (q.get("month") or "")[:7]
        aqd = _aqd(request)
        with aqd.read_session() as s:
            pdf = reports.monthly_pdf(s, analytics.resolve_scope(s, scope), month, aqd.clock.now())
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="aqd-report-{month}.pdf"'},
        )

    @r.get("/analytics.csv")
    def analytics_csv(request: Request, caller: CallerDep) -> Response:
        _scope, rows = _analytics_rows(request, caller)
        return Response(
            analytics.steps_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="aqd-steps.csv"'},
        )

    @r.get("/analytics/lead-times.csv")
    def analytics_lead_times_csv(request: Request, caller: CallerDep) -> Response:
        q = request.query_params
        scope = analytics.scope_for(
            caller.principal, (q.get("programme") or "")[:64], (q.get("office") or "")[:32]
        )
        with _aqd(request).read_session() as s:
            rows = analytics.lead_time_report(
                s, analytics.resolve_scope(s, scope), by_month=q.get("by_month") == "1"
            )
        return Response(
            analytics.lead_times_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="aqd-lead-times.csv"'},
        )

    # -- employers ---------------------------------------------------------------------------------

    def register_page(
        request: Request,
        status_code: int = 200,
        values: dict[str, str] | None = None,
        error: EngineError | None = None,
    ) -> HTMLResponse:
        with _aqd(request).read_session() as s:
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

    @r.get("/register")
    def register_form(request: Request, caller: OptionalCallerDep) -> Response:
        if caller is not None:
            return redirect(home_of(caller.principal))
        return register_page(request)

    @r.post("/register")
    async def register(request: Request, caller: OptionalCallerDep) -> Response:
        form = _form_dict(await request.form())
        form.setdefault("locale", locale_of(request, None))
        aqd = _aqd(request)
        try:
            principal = accounts.register_employer(aqd, form)
        except EngineError as exc:
            form.pop("password", None)
            return register_page(request, exc.status_code, form, exc)
        secret, _csrf = accounts.open_session(
            aqd, principal, client_ip(request), request.headers.get("user-agent", "")
        )
        response = redirect("/employer?flash=registered")
        _set_session_cookie(response, secret)
        return response

    @r.get("/employer")
    def employer_home(request: Request, caller: CallerDep) -> Response:
        _require(caller, caller.principal.has("employer"))
        return party_home(request, caller, "employer.html")

    @r.get("/me")
    def beneficiary_home(request: Request, caller: CallerDep) -> Response:
        _require(caller, caller.principal.has("beneficiary"))
        return party_home(request, caller, "me.html")

    def party_home(request: Request, caller: Caller, template: str) -> HTMLResponse:
        aqd = _aqd(request)
        with aqd.read_session() as s:
            tasks = inbox.inbox(
                s, caller.principal, inbox.InboxFilter(per_page=100), aqd.clock.now()
            )
            contracts = inbox.list_contracts(s, caller.principal, per_page=100)
        return render(request, template, caller, tasks=tasks, contracts=contracts)

    def request_page(
        request: Request,
        caller: Caller,
        programme: str | None,
        status_code: int = 200,
        values: dict[str, Any] | None = None,
        error: EngineError | None = None,
    ) -> HTMLResponse:
        with _aqd(request).read_session() as s:
            programmes = inbox.programmes_open_for_requests(s, _aqd(request).clock.now())
        chosen = next((p for p in programmes if p["programme"] == programme), None)
        t = translator(locale_of(request, caller))
        form_fields = []
        if chosen is not None:
            schema = inbox.start_form_schema(chosen)
            form_fields = fields_of(
                schema, t, values, error.fields if error else None, skip=AUTO_FILLED
            )
        return render(
            request,
            "request.html",
            caller,
            status_code,
            programmes=programmes,
            chosen=chosen,
            fields=form_fields,
            values=values or {},
            error=error,
        )

    @r.get("/employer/request")
    def request_form(request: Request, caller: CallerDep) -> Response:
        _require(caller, caller.principal.has("employer"))
        return request_page(request, caller, request.query_params.get("programme"))

    @r.post("/employer/request")
    async def request_submit(request: Request, caller: CallerDep) -> Response:
        _require(caller, caller.principal.has("employer"))
        form = _form_dict(await request.form())
        programme = form.get("programme", "")
        with _aqd(request).read_session() as s:
            chosen = next(
                (
                    p
                    for p in inbox.programmes_open_for_requests(s, _aqd(request).clock.now())
                    if p["programme"] == programme
                ),
                None,
            )
        if chosen is None:
            raise NotFound(f"programme {programme} is not open for requests")
        schema = inbox.start_form_schema(chosen)
        data = coerce(
            {
                **schema,
                "properties": {
                    k: v for k, v in schema.get("properties", {}).items() if k not in AUTO_FILLED
                },
            },
            form,
        )
        data["beneficiary_cin"] = form.get("beneficiary_cin", "").strip()
        try:
            created = inbox.request_contract(_aqd(request), caller.principal, programme, data)
        except InvalidInput as exc:
            return request_page(request, caller, programme, 422, data, exc)
        return redirect(f"/contracts/{created['id']}?flash=requested")

    return r


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, min(int(value or ""), 100_000))
    except ValueError:
        return default


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _choice(value: str | None, allowed: tuple[str, ...], default: str) -> Any:
    return value if value in allowed else default
