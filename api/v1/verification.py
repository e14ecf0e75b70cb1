"""Batch verification runs and the anchors of the contracts' hash chains (auditors, office
heads for their office; ``/api/v1/verifications``, ``/anchors``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CallerDep
from api.deps import AqdDep, AuditorDep, ReadSession, wake_verifier
from api.v1.schemas import AUTHED, Out, V1Router, errors
from engine.audit import anchors
from engine.audit import verification_runs as verification

router = V1Router(tags=["api"], responses=errors(400, 422))


class VerificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    office: str | None = Field(default=None, max_length=32)
    programme: str | None = Field(default=None, max_length=64)
    since: date | None = None
    until: date | None = None
    sample: int | None = Field(default=None, ge=1, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**31)
    #: Also validate the signatures of every signed document (slower).
    signatures: bool = False


class RunScope(Out):
    office: str | None = Field(default=None, description="#<office id>, or None: every office")
    programme: str | None = None
    since: str | None = None
    until: str | None = None
    sample: int | None = None
    seed: int = 0
    signatures: bool = False


class FailedContract(Out):
    contract: str = Field(description="its number")
    first_divergent_seq: int | None
    problem: str


class VerificationRun(Out):
    id: int
    status: str = Field(description="queued, running, done or interrupted")
    requested_by: str
    requested_at: str = Field(description="ISO 8601")
    scope: RunScope
    total: int
    checked: int
    passed: int
    failed: list[FailedContract]
    progress: float = Field(description="checked / total, 0 to 1")
    finished_at: str | None = Field(description="ISO 8601")


class Anchor(Out):
    id: int
    anchored_at: str = Field(description="ISO 8601")
    contracts: int = Field(description="chain heads in its Merkle tree")
    root: str
    tsa: str | None
    stamped_at: str | None = Field(description="the time-stamp's time; None: not stamped yet")


class AnchorProblem(Out):
    anchor: int
    problem: str


class AnchorsReport(Out):
    anchors: int
    leaves: int
    ok: bool
    failed: list[AnchorProblem]
    unstamped: list[int] = Field(description="anchors without a time-stamp token")
    last_stamped_at: str | None


@router.post(
    "/verifications",
    status_code=202,
    response_model=VerificationRun,
    responses={**AUTHED, **errors(429)},
)
def start_verification(
    body: VerificationRequest, request: Request, caller: CallerDep, aqd: AqdDep
) -> dict[str, Any]:
    """Queue the verification of a sample or all contracts of a scope (auditors: any
    office; office heads: their own); the worker runs it. Poll ``GET /verifications/{id}``
    for progress. 429 (``busy``) while ``AQD_VERIFICATION_MAX_PENDING`` runs wait or run."""
    run_id = verification.request_run(aqd, caller.principal, **body.model_dump())
    wake_verifier(request)
    # read after the run's own transaction committed (on SQLite a read holds the database)
    with aqd.read_session() as s:
        return verification.get_run(s, caller.principal, run_id, aqd.clock.now())


@router.get("/verifications", response_model=list[VerificationRun], responses=AUTHED)
def verifications(caller: CallerDep, aqd: AqdDep, s: ReadSession) -> list[dict[str, Any]]:
    """Recent verification runs the caller may see."""
    return verification.list_runs(s, caller.principal, aqd.clock.now())


@router.get(
    "/verifications/{run_id}",
    response_model=VerificationRun,
    responses=errors(401, 403, 404, 422),
)
def verification_run(
    run_id: Annotated[int, Path(ge=1, le=2**62)], caller: CallerDep, aqd: AqdDep, s: ReadSession
) -> dict[str, Any]:
    """Progress and summary of one run (failed contracts with their first divergent event)."""
    return verification.get_run(s, caller.principal, run_id, aqd.clock.now())


@router.get("/anchors", response_model=list[Anchor], responses=AUTHED)
def anchors_list(
    caller: AuditorDep, s: ReadSession, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict[str, Any]]:
    """The latest time-stamped anchors of the contracts' hash chains (auditors)."""
    return anchors.list_anchors(s, limit)


@router.post("/anchors/verify", response_model=AnchorsReport, responses=AUTHED)
def anchors_verify(caller: AuditorDep, aqd: AqdDep) -> dict[str, Any]:
    """Rebuild every anchor's root from its leaves and check its time-stamp token."""
    return anchors.verify_anchors(aqd).to_dict()
