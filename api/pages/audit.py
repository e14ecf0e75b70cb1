"""Auditing: a contract's history stepped through event by event (state and diagram at each),
its verification, and batch verification runs with the anchors of the hash chains."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import Caller, CallerDep
from api.deps import AqdDep, AuditorDep, wake_verifier
from api.pages.common import form_dict, int_param, redirect, render
from engine import Aqd, NotPermitted, inbox
from engine.access import scope
from engine.audit import anchors, replay
from engine.audit import verification_runs as verification

router = APIRouter(include_in_schema=False)


def history_page(
    request: Request, caller: Caller, aqd: Aqd, ref: str, report: dict[str, Any] | None = None
) -> HTMLResponse:
    with aqd.read_session() as s:
        found = scope.audit_contract(s, caller.principal, ref)
        detail = inbox.contract_detail(s, caller.principal, found, aqd.clock.now())
        history = replay.history_of(s, found.id)
    events = history["events"]
    at = int_param(request.query_params.get("at"), len(events)) or len(events)
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


@router.get("/contracts/{ref}/history")
def contract_history(ref: str, request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    return history_page(request, caller, aqd, ref)


@router.post("/contracts/{ref}/verify")
def contract_verify(ref: str, request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    with aqd.read_session() as s:
        found = scope.audit_contract(s, caller.principal, ref)
        report = replay.replay_contract(aqd, s, found.id).to_dict()
    return history_page(request, caller, aqd, ref, report)


def verifications_view(
    request: Request, caller: Caller, aqd: Aqd, anchors_report: dict[str, Any] | None = None
) -> Response:
    with aqd.read_session() as s:
        runs = verification.list_runs(s, caller.principal, aqd.clock.now())
        offices = inbox.offices(s)
        latest = anchors.list_anchors(s, 5)
    if not (caller.principal.roles & verification.AUDITORS or caller.principal.has("office_head")):
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


@router.get("/verifications")
def verifications_page(request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    return verifications_view(request, caller, aqd)


@router.post("/verifications/anchors")
def verify_anchors_page(request: Request, caller: AuditorDep, aqd: AqdDep) -> Response:
    """Rebuild every anchor's root and check its token (auditors; under a second at
    150,000 contracts an hour)."""
    report = anchors.verify_anchors(aqd).to_dict()
    return verifications_view(request, caller, aqd, report)


@router.post("/verifications")
async def verification_start(request: Request, caller: CallerDep, aqd: AqdDep) -> Response:
    form = form_dict(await request.form())
    sample = int_param(form.get("sample"), 0) or None
    run_id = verification.request_run(
        aqd,
        caller.principal,
        office=form.get("office") or None,
        programme=form.get("programme") or None,
        sample=sample,
        signatures=form.get("signatures") == "on",
    )
    wake_verifier(request)
    return redirect(f"/verifications#run-{run_id}")
