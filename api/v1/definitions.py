"""Process definitions for the modeller (programme managers and admins): versions, a file's
source or draft, saving a draft with the problems a deploy would report, the draft's diff,
the properties panel's catalog, and deploying the drafts (``/api/v1/definitions``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api.auth import CallerDep
from api.deps import AqdDep, EditorDep, ReadSession
from api.modeller_catalog import decisions, forms, roles
from api.v1.contracts import SHORT
from api.v1.schemas import AUTHED, Labels, Out, V1Router, errors
from engine.definitions import drafts as modeller
from engine.models import DefinitionDraft

router = V1Router(tags=["api"], responses=errors(400, 422))
OWN = errors(401, 403, 404, 422)


class DraftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str = Field(min_length=1, max_length=200)
    xml: str = Field(min_length=1, max_length=2_000_000)


class DeployBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000, description="what changed and why")


class Version(Out):
    version: int
    content_hash: str
    deployed_by: str
    deployed_at: str = Field(description="ISO 8601")
    applies_from: str = Field(description="first request date its rules apply to (ISO 8601)")
    note: str | None


class Problem(Out):
    """What ``aqd deploy`` would refuse, where."""

    file: str
    element: str | None
    line: int | None
    message: str


class Source(Out):
    programme: str
    file: str
    version: int = Field(description="the newest deployed version")
    files: list[str] = Field(description="the version's BPMN and DMN files")
    xml: str = Field(description="the saved draft if there is one, else the deployed file")
    draft: bool
    problems: list[Problem]
    saved_by: str | None
    saved_at: str | None = Field(description="ISO 8601")


class DraftSaved(Out):
    saved: bool
    problems: list[Problem]
    version: int


class Diff(Out):
    file: str
    version: int
    added: list[str] = Field(description="element ids")
    removed: list[str]
    changed: list[str]


class Deployed(Out):
    version: int
    created: bool = Field(description="False when the same content was already deployed")
    content_hash: str


class FormEntry(Out):
    key: str
    label: Labels


class DecisionEntry(Out):
    id: str
    name: str
    file: str


class RoleEntry(Out):
    id: str
    label: Labels


class Catalog(Out):
    programme: str
    forms: list[FormEntry]
    decisions: list[DecisionEntry]
    roles: list[RoleEntry]


@router.get("/definitions/{programme}/versions", response_model=list[Version], responses=OWN)
def definition_versions(programme: str, caller: EditorDep, s: ReadSession) -> list[dict[str, Any]]:
    """Deployed versions with who, when and why (programme managers, admins)."""
    return modeller.versions(s, programme)


@router.get("/definitions/{programme}/source", response_model=Source, responses=OWN)
def definition_source(
    programme: str, caller: EditorDep, s: ReadSession, file: SHORT = None
) -> dict[str, Any]:
    """A file of the newest version, or its saved draft (programme managers, admins)."""
    return modeller.source(s, programme, file)


@router.put("/definitions/{programme}/draft", response_model=DraftSaved, responses=OWN)
def definition_draft(
    programme: str, body: DraftBody, caller: CallerDep, aqd: AqdDep
) -> dict[str, Any]:
    """Save a draft of one file; the answer lists the problems ``aqd deploy`` would
    report (file, element, line, message). The draft is kept even with problems."""
    return modeller.save_draft(aqd, caller.principal, programme, body.file, body.xml)


@router.get("/definitions/{programme}/diff", response_model=Diff, responses=OWN)
def definition_diff(
    programme: str,
    caller: EditorDep,
    s: ReadSession,
    file: Annotated[str, Query(min_length=1, max_length=200)],
) -> dict[str, Any]:
    """Element ids added, changed and removed by the draft (programme managers, admins)."""
    return modeller.diff(s, programme, file)


@router.post(
    "/definitions/{programme}/deploy", status_code=201, response_model=Deployed, responses=AUTHED
)
def definition_deploy(
    programme: str, body: DeployBody, caller: CallerDep, aqd: AqdDep
) -> dict[str, Any]:
    """Deploy the programme's drafts as its next version, with a change note."""
    return modeller.deploy_drafts(aqd, caller.principal, programme, body.note)


@router.get("/definitions/{programme}/catalog", response_model=Catalog, responses=OWN)
def definition_catalog(programme: str, caller: EditorDep, s: ReadSession) -> dict[str, Any]:
    """Forms, decisions and lane roles the modeller's properties panel lists (programme
    managers and admins)."""
    definition = modeller.newest(s, programme)
    sources = dict(definition.sources)
    for draft in s.scalars(select(DefinitionDraft).where(DefinitionDraft.programme == programme)):
        sources[draft.file] = draft.xml
    return {
        "programme": definition.programme,
        "forms": forms(definition.programme),
        "decisions": decisions(sources),
        "roles": roles(),
    }
