"""The caller's inbox and its tasks: one task with its contract and form, claim, release,
complete (with uploaded proofs), reassign (``/api/v1/tasks``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import File, Form, Path, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import CallerDep
from api.deps import AqdDep, ReadSession
from api.v1.contracts import PAGE, PER_PAGE, SHORT, CompleteRequest, ContractDetail, TaskItem
from api.v1.schemas import AUTHED, Out, Recorded, V1Router, errors, recorded
from engine import inbox
from engine.dates import check_date
from engine.inbox import documents

router = V1Router(tags=["api"], responses=errors(400, 422))


class ReassignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(default=None, max_length=100, description="None: back to pool")
    reason: str = Field(min_length=1, max_length=500)


class InboxPage(Out):
    """One page of the caller's inbox."""

    items: list[TaskItem]
    total: int
    page: int
    per_page: int
    pages: int


class TaskView(TaskItem):
    actionable: bool = Field(description="the caller may claim or complete it")
    claimed_by_me: bool
    contract_revision: int = Field(description="send back as expected_revision")
    form: dict[str, Any] | None = Field(description="the task form's JSON Schema")
    data: dict[str, Any] = Field(description="what this step's last completion submitted")


class OtherContract(Out):
    id: int
    number: str
    programme: str
    status: str
    employer: str | None


class RegistryContext(Out):
    """What the office checks before validating (office staff and auditors only)."""

    facts: dict[str, Any] = Field(
        description="the job-seeker registry's facts the contract's decisions read"
    )
    other_contracts: list[OtherContract] = Field(description="the job seeker's other contracts")


class TaskDetail(Out):
    task: TaskView
    contract: ContractDetail
    registry: RegistryContext | None = Field(default=None, description="office staff only")


class DocumentReference(Out):
    """Put this object as the form field's value when completing the task."""

    document_id: int
    sha256: str
    filename: str


class FastJSON(JSONResponse):
    """JSON by orjson, straight from the engine's dicts (dates in ISO 8601): FastAPI's generic
    encoder walks every value in Python and costs more than the inbox query itself. The
    response's schema is declared with ``responses=`` (the body is not validated)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


@router.get(
    "/tasks",
    response_class=FastJSON,
    responses={**AUTHED, 200: {"model": InboxPage, "description": "One page of the inbox"}},
)
def tasks(
    caller: CallerDep,
    aqd: AqdDep,
    s: ReadSession,
    programme: SHORT = None,
    step: SHORT = None,
    due_before: date | None = None,
    overdue: bool = False,
    assigned: inbox.Assigned = "any",
    q: SHORT = None,
    sort: inbox.Sort = "due",
    page: PAGE = 1,
    per_page: PER_PAGE = 50,
) -> FastJSON:
    """The caller's inbox: office staff see their office's lanes, employers and beneficiaries
    their own contracts' steps."""
    if due_before is not None:
        check_date(due_before, "due_before")
    f = inbox.InboxFilter(programme, step, due_before, overdue, assigned, q, sort, page, per_page)
    return FastJSON(inbox.inbox(s, caller.principal, f, aqd.clock.now()).to_dict())


@router.get("/tasks/{guid}", response_model=TaskDetail, responses=errors(401, 403, 404, 422))
def task(
    guid: Annotated[str, Path(max_length=64)], caller: CallerDep, aqd: AqdDep, s: ReadSession
) -> dict[str, Any]:
    """One task with its contract, form and history (scoped)."""
    return inbox.task_detail(s, caller.principal, guid, aqd.clock.now())


@router.post(
    "/tasks/{guid}/claim", response_model=Recorded, responses=errors(401, 403, 404, 409, 422)
)
def claim(guid: str, caller: CallerDep, aqd: AqdDep) -> dict[str, Any]:
    """Take a task (office staff of its office)."""
    return recorded(inbox.claim(aqd, caller.principal, guid))


@router.post(
    "/tasks/{guid}/release", response_model=Recorded, responses=errors(401, 403, 404, 409, 422)
)
def release(guid: str, caller: CallerDep, aqd: AqdDep) -> dict[str, Any]:
    """Give a claimed task back to the pool (its assignee)."""
    return recorded(inbox.claim(aqd, caller.principal, guid, release=True))


@router.post(
    "/tasks/{guid}/complete", response_model=Recorded, responses=errors(401, 403, 404, 409, 422)
)
def complete(guid: str, body: CompleteRequest, caller: CallerDep, aqd: AqdDep) -> dict[str, Any]:
    """Submit the task's form (whoever may act on its lane, in scope)."""
    rec = inbox.complete(aqd, caller.principal, guid, body.data, body.expected_revision)
    return recorded(rec)


@router.post(
    "/tasks/{guid}/documents",
    status_code=201,
    response_model=DocumentReference,
    responses=errors(401, 403, 404, 409, 422),
)
async def task_document(
    guid: str,
    caller: CallerDep,
    aqd: AqdDep,
    field: Annotated[str, Form(min_length=1, max_length=64)],
    file: Annotated[UploadFile, File(description="PDF, PNG or JPEG, 5 MB at most")],
) -> dict[str, Any]:
    """Upload a file for a form field of the task (``x-upload`` in its schema); complete
    the task with the returned reference as that field's value. The file must parse as a PDF,
    PNG or JPEG; it stays pending until the task completes with it and expires otherwise
    (``AQD_UPLOAD_PENDING_HOURS``). 409 ``quota_exceeded`` past the contract's or the
    caller's upload quota."""
    content = await file.read(documents.MAX_BYTES + 1)
    upload = documents.Upload(field, file.filename or "document", content)
    return await run_in_threadpool(documents.attach_to_task, aqd, caller.principal, guid, upload)


@router.post(
    "/tasks/{guid}/reassign", response_model=Recorded, responses=errors(401, 403, 404, 409, 422)
)
def reassign(guid: str, body: ReassignRequest, caller: CallerDep, aqd: AqdDep) -> dict[str, Any]:
    """Give a task to a counsellor of the office, with a reason (office head)."""
    rec = inbox.reassign(aqd, caller.principal, guid, body.assignee, body.reason)
    return recorded(rec)
