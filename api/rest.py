"""The JSON API (``/api/v1``): everything the pages do, for scripts and other systems.

Every route states the role and scope it needs; scoping lives in ``engine.inbox``, so
the pages and this API cannot drift apart. Errors have one shape, ``{"error", "detail",
"fields"}``, declared on every route in the OpenAPI document.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import CallerDep, client_ip, forget_token
from engine import Aqd, NotPermitted, analytics, inbox
from engine.access import accounts, scope
from engine.audit import anchors, replay
from engine.audit import verification_runs as verification
from engine.commands import contract_actions
from engine.commands import version_migration as migration
from engine.definitions import diagram
from engine.definitions import drafts as modeller
from engine.inbox import documents

PAGE = Annotated[int, Query(ge=1, le=100_000)]
PER_PAGE = Annotated[int, Query(ge=1, le=inbox.PER_PAGE_MAX)]
SHORT = Annotated[str | None, Query(max_length=100)]


class ErrorBody(BaseModel):
    error: str = Field(description="stable error code, e.g. not_found, conflict")
    detail: str = Field(description="a sentence for humans")
    fields: dict[str, Any] = Field(default_factory=dict, description="per-field messages")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "malformed request (a body that cannot be parsed)",
        401: "not signed in, or bad credentials",
        403: "signed in but not allowed (or missing CSRF token)",
        404: "not found in the caller's scope",
        409: "conflict: the task or contract changed first",
        422: "invalid input, with per-field details",
        429: "too many failed logins",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}


AUTHED = errors(401, 403, 422)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    name: str = Field(default="api", max_length=100)


class CompleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(description="the task form's fields (see GET /forms/...)")
    expected_revision: int | None = Field(
        default=None, ge=0, description="fail with 409 if the contract moved since you read it"
    )


class ReassignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(default=None, max_length=100, description="None: back to pool")
    reason: str = Field(min_length=1, max_length=500)


class ContractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    programme: str = Field(min_length=1, max_length=64)
    beneficiary_cin: str = Field(pattern=r"^[0-9]{8}$")
    data: dict[str, Any] = Field(default_factory=dict, description="other start-form fields")


class BaselineUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=150, description="names the import")
    csv: str = Field(
        min_length=1, max_length=20_000_000, description="office,programme,step,date,hours"
    )


class DraftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str = Field(min_length=1, max_length=200)
    xml: str = Field(min_length=1, max_length=2_000_000)


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000, description="what changed and why")


class MigrationSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    programme: str = Field(min_length=1, max_length=64)
    to_version: int | None = Field(default=None, ge=1, le=100_000, description="default: newest")
    from_versions: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=list, max_length=50
    )
    statuses: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=20
    )
    numbers: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=10_000
    )
    limit: int | None = Field(default=None, ge=1, le=100_000)


class MigrationRequest(MigrationSelection):
    note: str = Field(min_length=1, max_length=2000, description="why (recorded)")


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


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


class EmployerRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=200)
    matricule_fiscal: str = Field(min_length=8, max_length=32)
    cnss_number: str = Field(min_length=6, max_length=12)
    sector: str = Field(min_length=2, max_length=64)
    governorate: str = Field(min_length=2, max_length=64)
    office: str = Field(min_length=1, max_length=32)
    username: str = Field(min_length=3, max_length=100)
    password: str = Field(min_length=10, max_length=1000)
    display_name: str = Field(default="", max_length=200)
    locale: Literal["ar", "fr"] = "fr"


def _aqd(request: Request) -> Aqd:
    aqd: Aqd = request.app.state.aqd
    return aqd


def _recorded(rec: Any) -> dict[str, Any]:
    return {
        "contract_id": rec.contract_id,
        "revision": rec.revision,
        "seq": rec.seq,
        "event": rec.kind,
    }


#: FastJSON responses declare their body (FastAPI would document a string).
PAGE_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of the caller's inbox",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


class FastJSON(Response):
    """JSON by orjson, straight from the engine's dicts (dates in ISO 8601): FastAPI's generic
    encoder walks every value in Python and costs more than the inbox query itself."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def build_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1", tags=["api"], responses=errors(400, 422))

    @r.post("/tokens", status_code=201, responses=errors(401, 422, 429))
    def create_token(body: TokenRequest, request: Request) -> dict[str, Any]:
        """Exchange a username and password for a bearer token (throttled per user and IP)."""
        aqd = _aqd(request)
        principal = accounts.authenticate(aqd, body.username, body.password, client_ip(request))
        return accounts.create_token(aqd, principal, body.name)

    @r.delete("/tokens/current", status_code=204, responses=AUTHED)
    def revoke_current(caller: CallerDep, request: Request) -> Response:
        """Revoke the bearer token used for this call (any role)."""
        if caller.via == "token":
            accounts.revoke_token(_aqd(request), caller.secret)
            forget_token(caller.secret)
        return Response(status_code=204)

    @r.get("/me", responses=AUTHED)
    def me(caller: CallerDep) -> dict[str, Any]:
        """The caller, their roles and scope (any role)."""
        return caller.principal.to_dict()

    @r.get("/tasks", responses={**AUTHED, **PAGE_200}, response_class=FastJSON)
    def tasks(
        caller: CallerDep,
        request: Request,
        programme: SHORT = None,
        step: SHORT = None,
        due_before: date | None = None,
        overdue: bool = False,
        assigned: inbox.Assigned = "any",
        q: SHORT = None,
        sort: inbox.Sort = "due",
        page: PAGE = 1,
        per_page: PER_PAGE = 50,
    ) -> Response:
        """The caller's inbox: office staff see their office's lanes, employers and beneficiaries
        their own contracts' steps."""
        aqd = _aqd(request)
        f = inbox.InboxFilter(
            programme, step, due_before, overdue, assigned, q, sort, page, per_page
        )
        with aqd.read_session() as s:
            return FastJSON(inbox.inbox(s, caller.principal, f, aqd.clock.now()).to_dict())

    @r.get("/tasks/{guid}", responses=errors(401, 403, 404, 422))
    def task(
        guid: Annotated[str, Path(max_length=64)], caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """One task with its contract, form and history (scoped)."""
        aqd = _aqd(request)
        with aqd.read_session() as s:
            return inbox.task_detail(s, caller.principal, guid, aqd.clock.now())

    @r.post("/tasks/{guid}/claim", responses=errors(401, 403, 404, 409, 422))
    def claim(guid: str, caller: CallerDep, request: Request) -> dict[str, Any]:
        """Take a task (office staff of its office)."""
        return _recorded(inbox.claim(_aqd(request), caller.principal, guid))

    @r.post("/tasks/{guid}/release", responses=errors(401, 403, 404, 409, 422))
    def release(guid: str, caller: CallerDep, request: Request) -> dict[str, Any]:
        """Give a claimed task back to the pool (its assignee)."""
        return _recorded(inbox.claim(_aqd(request), caller.principal, guid, release=True))

    @r.post("/tasks/{guid}/complete", responses=errors(401, 403, 404, 409, 422))
    def complete(
        guid: str, body: CompleteRequest, caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Submit the task's form (whoever may act on its lane, in scope)."""
        rec = inbox.complete(
            _aqd(request), caller.principal, guid, body.data, body.expected_revision
        )
        return _recorded(rec)

    @r.post("/tasks/{guid}/documents", status_code=201, responses=errors(401, 403, 404, 422))
    async def task_document(
        guid: str,
        caller: CallerDep,
        request: Request,
        field: Annotated[str, Form(min_length=1, max_length=64)],
        file: Annotated[UploadFile, File(description="PDF, PNG or JPEG, 5 MB at most")],
    ) -> dict[str, Any]:
        """Upload a file for a form field of the task (``x-upload`` in its schema); complete
        the task with the returned reference as that field's value."""
        content = await file.read(documents.MAX_BYTES + 1)
        upload = documents.Upload(field, file.filename or "document", content)
        return await run_in_threadpool(
            documents.attach_to_task, _aqd(request), caller.principal, guid, upload
        )

    @r.post("/tasks/{guid}/reassign", responses=errors(401, 403, 404, 409, 422))
    def reassign(
        guid: str, body: ReassignRequest, caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Give a task to a counsellor of the office, with a reason (office head)."""
        rec = inbox.reassign(_aqd(request), caller.principal, guid, body.assignee, body.reason)
        return _recorded(rec)

    @r.get("/contracts", responses=AUTHED)
    def contracts(
        caller: CallerDep,
        request: Request,
        programme: SHORT = None,
        status: SHORT = None,
        q: SHORT = None,
        page: PAGE = 1,
        per_page: PER_PAGE = 50,
    ) -> dict[str, Any]:
        """Contracts in the caller's scope; ``q`` searches number, CIN or employer."""
        with _aqd(request).read_session() as s:
            return inbox.list_contracts(
                s,
                caller.principal,
                programme=programme,
                status=status,
                q=q,
                page=page,
                per_page=per_page,
            ).to_dict()

    @r.get("/contracts/{ref}", responses=errors(401, 403, 404, 422))
    def contract(ref: str, caller: CallerDep, request: Request) -> dict[str, Any]:
        """One contract (by id or number) with its open steps and history (scoped)."""
        aqd = _aqd(request)
        with aqd.read_session() as s:
            found = scope.visible_contract(s, caller.principal, ref)
            return inbox.contract_detail(s, caller.principal, found, aqd.clock.now())

    @r.get("/contracts/{ref}/actions", responses=errors(401, 403, 404, 422))
    def contract_actions_list(ref: str, caller: CallerDep, request: Request) -> dict[str, Any]:
        """What the caller may do to this contract now — suspend, resume, end early, ask for an
        extension — each with its form's JSON Schema (Arabic and French labels)."""
        aqd = _aqd(request)
        with aqd.read_session() as s:
            found = scope.visible_contract(s, caller.principal, ref)
            return {
                "contract_id": found.id,
                "status": found.status,
                "revision": found.revision,
                "actions": contract_actions.available(s, caller.principal, found),
            }

    @r.post("/contracts/{ref}/actions/{key}", responses=errors(401, 403, 404, 409, 422))
    def contract_action(
        ref: str,
        key: Annotated[str, Path(max_length=40)],
        body: CompleteRequest,
        caller: CallerDep,
        request: Request,
    ) -> dict[str, Any]:
        """Take one of the contract's actions (``GET .../actions`` lists them): 403 when the
        caller is not the party who may, 409 when the contract does not accept it now or moved
        since ``expected_revision``, 422 with field errors when the form is wrong."""
        return _recorded(
            contract_actions.perform(
                _aqd(request), caller.principal, ref, key, body.data, body.expected_revision
            )
        )

    @r.get("/contracts/{ref}/state", responses=errors(401, 403, 404, 422))
    def contract_state(
        ref: str, caller: CallerDep, request: Request, at: Annotated[int, Query(ge=1)]
    ) -> dict[str, Any]:
        """The contract right after event ``at``, replayed from its events: each instance's
        data, ready steps and waits, and what that event changed (auditors, office staff)."""
        aqd = _aqd(request)
        with aqd.read_session() as s:
            found = scope.audit_contract(s, caller.principal, ref)
            return replay.state_at(replay.history_of(s, found.id), at, aqd.runner)

    @r.get("/contracts/{ref}/diagram", responses=errors(401, 403, 404, 422))
    def contract_diagram(
        ref: str,
        caller: CallerDep,
        request: Request,
        at: Annotated[int | None, Query(ge=1)] = None,
        instance: Annotated[str, Query(min_length=1, max_length=64)] = "main",
    ) -> dict[str, Any]:
        """One process of the contract for the diagram viewer: BPMN source, each element's
        state at event ``at`` (default: now) and the hours each human step took."""
        aqd = _aqd(request)
        with aqd.read_session() as s:
            found = scope.audit_contract(s, caller.principal, ref)
            return diagram.contract_diagram(aqd, s, found, at, instance)

    @r.post("/contracts/{ref}/verify", responses=errors(401, 403, 404, 422))
    def verify_contract(ref: str, caller: CallerDep, request: Request) -> dict[str, Any]:
        """Replay the contract against its pinned definition, check every state hash and the
        hash chain; names the first divergent event (auditors, office staff)."""
        aqd = _aqd(request)
        with aqd.read_session() as s:
            found = scope.audit_contract(s, caller.principal, ref)
            return replay.replay_contract(aqd, s, found.id).to_dict()

    @r.post("/contracts", status_code=201, responses=errors(401, 403, 409, 422))
    def request_contract(
        body: ContractRequest, caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Request a contract for a registered job seeker (employer)."""
        form = {**body.data, "beneficiary_cin": body.beneficiary_cin}
        return inbox.request_contract(_aqd(request), caller.principal, body.programme, form)

    @r.get("/programmes", responses=AUTHED)
    def programmes(caller: CallerDep, request: Request) -> list[dict[str, Any]]:
        """Programmes open for contract requests (any role)."""
        with _aqd(request).read_session() as s:
            return inbox.programmes_open_for_requests(s, _aqd(request).clock.now())

    @r.get("/analytics/steps", responses=AUTHED)
    def analytics_steps(
        caller: CallerDep, request: Request, programme: SHORT = None, office: SHORT = None
    ) -> list[dict[str, Any]]:
        """Processing time per programme, office and step (office head: own office;
        programme manager, auditor, admin: all)."""
        scope = analytics.scope_for(caller.principal, programme, office)
        with _aqd(request).read_session() as s:
            return analytics.step_report(s, analytics.resolve_scope(s, scope))

    @r.get("/analytics/lead-times", responses=AUTHED)
    def analytics_lead_times(
        caller: CallerDep,
        request: Request,
        programme: SHORT = None,
        office: SHORT = None,
        month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
        by_month: bool = False,
    ) -> list[dict[str, Any]]:
        """Days from request to signed contract and to first payment (count, median, p90,
        mean) per programme and office, for all time or one month (``YYYY-MM``), optionally
        per month; scoped as ``/analytics/steps``."""
        scope = analytics.scope_for(caller.principal, programme, office)
        if month:
            scope = analytics.month_scope(month, scope.programme, scope.office)
        with _aqd(request).read_session() as s:
            return analytics.lead_time_report(
                s, analytics.resolve_scope(s, scope), by_month=by_month
            )

    @r.get("/analytics/evidence", responses=AUTHED)
    def analytics_evidence(
        caller: CallerDep,
        request: Request,
        programme: Annotated[str, Query(min_length=1, max_length=64)],
        step: SHORT = None,
    ) -> dict[str, Any]:
        """Reduction vs the baseline and difference in differences (analysts)."""
        analytics.require_analyst(caller.principal)
        with _aqd(request).read_session() as s:
            return analytics.evidence(s, programme, step)

    @r.post("/analytics/baseline", status_code=201, responses=AUTHED)
    def analytics_baseline(
        body: BaselineUpload, caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Import pre-digital durations (programme manager, admin); same file name and content
        replaces the earlier import."""
        analytics.require_analyst(caller.principal, write=True)
        aqd = _aqd(request)
        source = analytics.source_name(body.filename, body.csv)
        with aqd.session() as s, s.begin():
            count = analytics.import_baseline(s, body.csv, source, aqd.clock.now())
        return {"source": source, "cases": count}

    @r.get("/definitions/{programme}/versions", responses=errors(401, 403, 404, 422))
    def definition_versions(
        programme: str, caller: CallerDep, request: Request
    ) -> list[dict[str, Any]]:
        """Deployed versions with who, when and why (programme managers, admins)."""
        modeller.require_editor(caller.principal)
        with _aqd(request).read_session() as s:
            return modeller.versions(s, programme)

    @r.get("/definitions/{programme}/source", responses=errors(401, 403, 404, 422))
    def definition_source(
        programme: str, caller: CallerDep, request: Request, file: SHORT = None
    ) -> dict[str, Any]:
        """A file of the newest version, or its saved draft (programme managers, admins)."""
        modeller.require_editor(caller.principal)
        with _aqd(request).read_session() as s:
            return modeller.source(s, programme, file)

    @r.put("/definitions/{programme}/draft", responses=errors(401, 403, 404, 422))
    def definition_draft(
        programme: str, body: DraftBody, caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Save a draft of one file; the answer lists the problems ``aqd deploy`` would
        report (file, element, line, message). The draft is kept even with problems."""
        return modeller.save_draft(_aqd(request), caller.principal, programme, body.file, body.xml)

    @r.get("/definitions/{programme}/diff", responses=errors(401, 403, 404, 422))
    def definition_diff(
        programme: str,
        caller: CallerDep,
        request: Request,
        file: Annotated[str, Query(min_length=1, max_length=200)],
    ) -> dict[str, Any]:
        """Element ids added, changed and removed by the draft (programme managers, admins)."""
        modeller.require_editor(caller.principal)
        with _aqd(request).read_session() as s:
            return modeller.diff(s, programme, file)

    @r.post("/definitions/{programme}/deploy", status_code=201, responses=AUTHED)
    def definition_deploy(
        programme: str, body: DeployBody, caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Deploy the programme's drafts as its next version, with a change note."""
        return modeller.deploy_drafts(_aqd(request), caller.principal, programme, body.note)

    @r.post("/migrations/dry-run", responses=errors(401, 403, 404, 422))
    def migration_dry_run(
        body: MigrationSelection, caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Per selected running contract: can it move to the target version (and which new
        steps lie ahead of it), or why not. Changes nothing (programme managers)."""
        migration.require_migrator(caller.principal.roles)
        return _aqd(request).migration_dry_run(migration.Selection(**body.model_dump())).to_dict()

    @r.post("/migrations", status_code=201, responses=errors(401, 403, 404, 409, 422))
    def migrate(body: MigrationRequest, caller: CallerDep, request: Request) -> dict[str, Any]:
        """Migrate the selected contracts, one audited command and transaction each; the
        batch lists the contracts refused and why (programme managers)."""
        migration.require_migrator(caller.principal.roles)
        values = body.model_dump()
        note = values.pop("note")
        selection = migration.Selection(**values)
        actor = caller.principal.username
        return _aqd(request).migrate_contracts(selection, actor, note).to_dict()

    @r.get("/migrations", responses=AUTHED)
    def migrations(
        caller: CallerDep, request: Request, programme: SHORT = None
    ) -> list[dict[str, Any]]:
        """Migration batches, newest first (programme managers)."""
        migration.require_migrator(caller.principal.roles)
        with _aqd(request).read_session() as s:
            return migration.list_batches(s, programme)

    @r.get("/migrations/{batch_id}", responses=errors(401, 403, 404, 422))
    def migration_batch(
        batch_id: Annotated[int, Path(ge=1, le=2**62)], caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """One batch, per contract: migrated, refused (why) or rolled back (programme managers)."""
        migration.require_migrator(caller.principal.roles)
        with _aqd(request).read_session() as s:
            return migration.batch_detail(s, batch_id)

    @r.post("/migrations/{batch_id}/rollback", responses=errors(401, 403, 404, 409, 422))
    def migration_rollback(
        batch_id: Annotated[int, Path(ge=1, le=2**62)],
        body: RollbackRequest,
        caller: CallerDep,
        request: Request,
    ) -> dict[str, Any]:
        """Put the batch's contracts back on their old version; those whose migrated workflow
        moved since are listed with why not. 409 if none is left to roll back."""
        migration.require_migrator(caller.principal.roles)
        aqd = _aqd(request)
        return aqd.rollback_migration(batch_id, caller.principal.username, body.reason).to_dict()

    @r.post("/verifications", status_code=202, responses=AUTHED)
    def start_verification(
        body: VerificationRequest, caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Verify a sample or all contracts of a scope in the background (auditors: any
        office; office heads: their own). Poll ``GET /verifications/{id}`` for progress."""
        aqd = _aqd(request)
        run_id = verification.request_run(aqd, caller.principal, **body.model_dump())
        verification.start_in_background(aqd, run_id)
        with aqd.read_session() as s:
            return verification.get_run(s, caller.principal, run_id, aqd.clock.now())

    @r.get("/verifications", responses=AUTHED)
    def verifications(caller: CallerDep, request: Request) -> list[dict[str, Any]]:
        """Recent verification runs the caller may see."""
        aqd = _aqd(request)
        with aqd.read_session() as s:
            return verification.list_runs(s, caller.principal, aqd.clock.now())

    @r.get("/verifications/{run_id}", responses=errors(401, 403, 404, 422))
    def verification_run(
        run_id: Annotated[int, Path(ge=1, le=2**62)], caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Progress and summary of one run (failed contracts with their first divergent event)."""
        aqd = _aqd(request)
        with aqd.read_session() as s:
            return verification.get_run(s, caller.principal, run_id, aqd.clock.now())

    @r.get("/anchors", responses=AUTHED)
    def anchors_list(
        caller: CallerDep, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> list[dict[str, Any]]:
        """The latest time-stamped anchors of the contracts' hash chains (auditors)."""
        if not caller.principal.roles & verification.AUDITORS:
            raise NotPermitted("the anchors are for auditors")
        with _aqd(request).read_session() as s:
            return anchors.list_anchors(s, limit)

    @r.post("/anchors/verify", responses=AUTHED)
    def anchors_verify(caller: CallerDep, request: Request) -> dict[str, Any]:
        """Rebuild every anchor's root from its leaves and check its time-stamp token."""
        if not caller.principal.roles & verification.AUDITORS:
            raise NotPermitted("the anchors are verified by auditors")
        return anchors.verify_anchors(_aqd(request)).to_dict()

    @r.post("/employers", status_code=201, responses=errors(409, 422))
    def register(body: EmployerRegistration, request: Request) -> dict[str, Any]:
        """Register a company and its first employer account (public)."""
        principal = accounts.register_employer(_aqd(request), body.model_dump())
        return principal.to_dict()

    return r
