"""The job-seeker registry for the office's staff: find a job seeker by CIN, read their record
and its history, correct one fact with a reason and, optionally, a proof
(engine/registry/record.py)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from api.auth import Caller
from api.deps import AqdDep, OfficeReaderDep, ReadSession
from api.pages.common import form_dict, redirect, render
from engine import Aqd, InvalidInput, NotFound, QuotaExceeded
from engine.inbox import documents
from engine.registry import record

router = APIRouter(include_in_schema=False)


def _cin(text: str) -> str:
    cin = text.strip()
    if not (cin.isascii() and cin.isdigit() and len(cin) == 8):
        raise NotFound(record.NOT_FOUND)
    return cin


def card_page(
    request: Request,
    caller: Caller,
    aqd: Aqd,
    cin: str,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    error: InvalidInput | None = None,
) -> HTMLResponse:
    with aqd.read_session() as s:
        person = record.card(s, caller.principal, cin)
    return render(
        request,
        "registry.html",
        caller,
        status_code,
        person=person,
        values=values or {},
        error=error,
    )


@router.get("/registry")
def registry_search(request: Request, caller: OfficeReaderDep) -> Response:
    """The search by CIN; a CIN goes straight to the card (404 outside the caller's office)."""
    cin = request.query_params.get("cin", "").strip()
    if cin:
        return redirect(f"/registry/{quote(_cin(cin))}")
    return render(request, "registry.html", caller, person=None, values={}, error=None)


@router.get("/registry/{cin}")
def registry_card(cin: str, request: Request, caller: OfficeReaderDep, aqd: AqdDep) -> Response:
    return card_page(request, caller, aqd, _cin(cin))


@router.post("/registry/{cin}")
async def registry_correct(
    cin: str, request: Request, caller: OfficeReaderDep, aqd: AqdDep
) -> Response:
    cin = _cin(cin)
    proof = None
    async with request.form(max_part_size=documents.MAX_BYTES + 1) as raw:
        form = form_dict(raw)
        upload = raw.get("proof")
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read(documents.MAX_BYTES + 1)
            proof = documents.Upload("proof", upload.filename, content)
    field = form.get("field", "")
    try:
        record.correct(
            aqd,
            caller.principal,
            cin,
            field,
            form.get("value", ""),
            form.get("reason", ""),
            proof,
        )
    except (InvalidInput, QuotaExceeded) as exc:
        error = exc if isinstance(exc, InvalidInput) else InvalidInput(exc.message)
        return card_page(request, caller, aqd, cin, 422, form, error)
    return redirect(f"/registry/{quote(cin)}?flash=fact_changed")


@router.get("/registry/{cin}/proofs/{change_id}")
def registry_proof(cin: str, change_id: int, caller: OfficeReaderDep, s: ReadSession) -> Response:
    name, content_type, data = record.proof_of(s, caller.principal, _cin(cin), change_id)
    return Response(
        data,
        media_type=content_type,
        headers={
            "Content-Disposition": f'inline; filename="{quote(name)}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )
