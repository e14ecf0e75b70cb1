"""A self-registered company's proofs and its office's check (``/api/v1/employer/company``,
``/api/v1/employer/documents``, ``/api/v1/companies``): the same commands as the pages
(``engine/employers/registration.py``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import File, Form, Path, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import CallerDep
from api.deps import AqdDep, ReadSession
from api.v1.schemas import AUTHED, Out, V1Router, errors
from engine.employers import registration as companies
from engine.inbox import documents

router = V1Router(tags=["api"], responses=errors(400, 422))

Kind = Literal["legal_status", "tax", "cnss"]
EMPLOYER_ID = Annotated[int, Path(ge=1, le=2**62)]
Registration = Literal["pending", "checked", "refused"]


class CompanyUpload(Out):
    id: int
    kind: Kind
    filename: str
    content_type: str
    size: int
    sha256: str
    status: Literal["submitted", "checked", "refused"]
    uploaded_by: str
    uploaded_at: str = Field(description="ISO 8601")


class Standing(Out):
    legal_status: str = Field(description="PRIVATE_FIRM, …; UNKNOWN while nobody checked it")
    tax_certificate_until: str | None
    cnss_certificate_until: str | None
    checked_on: str


class CompanyFile(Out):
    id: int
    name: str
    matricule_fiscal: str
    cnss_number: str
    sector: str
    governorate: str
    office: str
    registration: Registration = Field(
        description="pending until its office checks it; only a checked company requests"
    )
    missing: list[Kind] = Field(description="neither valid today nor uploaded for a check")
    to_check: list[Kind] = Field(description="uploaded, waiting for the office's check")
    uploads: list[CompanyUpload]
    refusal: str | None = Field(description="the reason of the office's last decision if refused")
    standing: Standing = Field(description="what the employer eligibility decisions read today")


class Uploaded(Out):
    ids: list[int]


class CompanyToCheck(Out):
    id: int
    name: str
    matricule_fiscal: str
    cnss_number: str
    registration: Registration
    documents: int = Field(description="uploads waiting for a check")
    since: str | None = Field(description="when the oldest of them was uploaded (ISO 8601)")


class StatusFact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(max_length=64, description="PRIVATE_FIRM, ASSOCIATION, …")
    since: str = Field(max_length=10, description="YYYY-MM-DD")


class CertificateFact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str = Field(max_length=100)
    valid_from: str = Field(max_length=10, description="YYYY-MM-DD")
    valid_until: str = Field(max_length=10, description="YYYY-MM-DD")


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "refuse"]
    reason: str = Field(default="", max_length=1000, description="required to refuse")
    legal_status: StatusFact | None = None
    tax: CertificateFact | None = None
    cnss: CertificateFact | None = None


class CheckRecorded(Out):
    id: int
    decision: Literal["approved", "refused"]
    registration: Registration


@router.get("/employer/company", response_model=CompanyFile, responses=AUTHED)
def own_company(caller: CallerDep, aqd: AqdDep, s: ReadSession) -> dict[str, Any]:
    """The caller's company: its registration, what is missing, its uploads (employer)."""
    return companies.own_file(s, caller.principal, aqd.clock.now().date())


@router.post(
    "/employer/documents",
    status_code=201,
    response_model=Uploaded,
    responses=errors(401, 403, 404, 422),
)
async def upload(
    caller: CallerDep,
    aqd: AqdDep,
    kind: Annotated[Kind, Form()],
    file: Annotated[UploadFile, File(description="PDF, PNG or JPEG, 5 MB at most")],
) -> dict[str, Any]:
    """Send a proof for the office to check (employer): the legal status document, the tax or
    the CNSS certificate. It must parse as a PDF, PNG or JPEG; it replaces the one of its kind
    still waiting, and a refused company is pending again."""
    content = await file.read(documents.MAX_BYTES + 1)
    sent = companies.CompanyUpload(kind, file.filename or "document", content)
    ids = await run_in_threadpool(companies.upload_proofs, aqd, caller.principal, [sent])
    return {"ids": ids}


@router.get("/companies", response_model=list[CompanyToCheck], responses=AUTHED)
def to_check(caller: CallerDep, s: ReadSession) -> list[dict[str, Any]]:
    """Companies of the caller's office waiting for a check (counsellor, office head)."""
    return companies.companies_to_check(s, caller.principal)


@router.get(
    "/companies/{employer_id}", response_model=CompanyFile, responses=errors(401, 403, 404, 422)
)
def company(
    employer_id: EMPLOYER_ID, caller: CallerDep, aqd: AqdDep, s: ReadSession
) -> dict[str, Any]:
    """A company of the caller's office (counsellor, office head; any other answers 404)."""
    employer = companies.office_company(s, caller.principal, employer_id)
    return companies.company_file(s, employer, aqd.clock.now().date())


@router.post(
    "/companies/{employer_id}/check",
    response_model=CheckRecorded,
    responses=errors(401, 403, 404, 422),
)
def check(
    employer_id: EMPLOYER_ID, body: CheckRequest, caller: CallerDep, aqd: AqdDep
) -> dict[str, Any]:
    """Record the facts the uploads show (each upload is its fact's proof) and approve, or
    refuse with a reason the company reads (counsellor, office head of its office)."""
    return companies.decide(aqd, caller.principal, employer_id, body.model_dump(exclude_none=True))
