"""The modeller (programme managers edit a programme's BPMN and DMN in the browser; the
editing itself is ``/api/v1/definitions/…`` from the page's script) and the migration of
running contracts to a new version: dry run, migrate, batches, rollback."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from api.auth import Caller
from api.deps import AqdDep, EditorDep, MigratorDep, ReadSession
from api.pages.common import form_dict, int_param, redirect, render
from engine import Aqd
from engine.commands import version_migration as migration
from engine.definitions import drafts as modeller

router = APIRouter(include_in_schema=False)

#: Contract statuses a migration is usually aimed at (the selection form's choices).
MIGRATABLE_STATUSES = ("requested", "in_review", "awaiting_signature", "active")


@router.get("/modeller")
def modeller_index(request: Request, caller: EditorDep, s: ReadSession) -> Response:
    names = modeller.programmes(s)
    return render(request, "modeller_index.html", caller, programmes=names)


@router.get("/modeller/{programme}")
def modeller_page(programme: str, request: Request, caller: EditorDep, s: ReadSession) -> Response:
    current = modeller.source(s, programme, request.query_params.get("file"))
    history = modeller.versions(s, programme)
    return render(request, "modeller.html", caller, current=current, versions=history)


def migrations_page(
    request: Request, caller: Caller, aqd: Aqd, programme: str, **context: Any
) -> HTMLResponse:
    """The programme's migrations page (callers are checked by ``MigratorDep``)."""
    with aqd.read_session() as s:
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
        return [int_param(str(v), 0) for v in form.getlist(name) if str(v).strip()]

    to = ints("to_version")
    return migration.Selection(
        programme=programme,
        to_version=to[0] if to else None,
        from_versions=[v for v in ints("from_version") if v],
        statuses=[str(v) for v in form.getlist("status") if str(v).strip()],
    )


@router.get("/modeller/{programme}/migrations")
def migrations(programme: str, request: Request, caller: MigratorDep, aqd: AqdDep) -> Response:
    return migrations_page(request, caller, aqd, programme)


@router.post("/modeller/{programme}/migrations/dry-run")
async def migration_dry_run(
    programme: str, request: Request, caller: MigratorDep, aqd: AqdDep
) -> Response:
    selection = _selection(programme, await request.form())
    report = aqd.migration_dry_run(selection).to_dict()
    return migrations_page(request, caller, aqd, programme, report=report, selection=selection)


@router.post("/modeller/{programme}/migrations")
async def migration_run(
    programme: str, request: Request, caller: MigratorDep, aqd: AqdDep
) -> Response:
    form = await request.form()
    selection = _selection(programme, form)
    note = str(form.get("note") or "")
    result = aqd.migrate_contracts(selection, caller.principal.username, note)
    return redirect(f"/modeller/{quote(programme)}/migrations/{result.batch_id}")


@router.get("/modeller/{programme}/migrations/{batch_id}")
def migration_batch(
    programme: str, batch_id: int, request: Request, caller: MigratorDep, aqd: AqdDep
) -> Response:
    with aqd.read_session() as s:
        batch = migration.batch_detail(s, batch_id)
    return migrations_page(request, caller, aqd, programme, batch=batch)


@router.post("/modeller/{programme}/migrations/{batch_id}/rollback")
async def migration_rollback(
    programme: str, batch_id: int, request: Request, caller: MigratorDep, aqd: AqdDep
) -> Response:
    form = form_dict(await request.form())
    result = aqd.rollback_migration(batch_id, caller.principal.username, form.get("reason", ""))
    with aqd.read_session() as s:
        batch = migration.batch_detail(s, batch_id)
    return migrations_page(request, caller, aqd, programme, batch=batch, rollback=result.to_dict())
