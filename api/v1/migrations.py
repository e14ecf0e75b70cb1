"""Migrating running contracts to another version of their programme: dry run, migrate,
batches and rollback (programme managers; ``/api/v1/migrations``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AqdDep, MigratorDep, ReadSession
from api.v1.contracts import SHORT
from api.v1.schemas import AUTHED, Out, V1Router, errors
from engine.commands import version_migration as migration

router = V1Router(tags=["api"], responses=errors(400, 422))
BATCH_ID = Annotated[int, Path(ge=1, le=2**62)]


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


class Verdict(Out):
    """Can this contract move to the target version, and what lies ahead of it."""

    contract_id: int
    number: str
    status: str
    from_version: int
    can_migrate: bool
    position: str = Field(description="blocked, ahead (new steps ahead of it) or past")
    reasons: list[str] = Field(description="why it cannot")
    ahead: list[str] = Field(description="new steps still ahead of the contract")
    instances: dict[str, dict[str, Any]] = Field(
        description="instance key -> its process and how its tasks map to the new version"
    )
    inbox: dict[str, dict[str, Any]] = Field(
        description="ready steps whose inbox row changes: task guid -> new values"
    )


class DryRun(Out):
    programme: str
    to_version: int
    contracts: int
    can_migrate: int
    cannot_migrate: int
    ahead_of_change: int
    past_change: int
    seconds: float
    verdicts: list[Verdict]


class Refusal(Out):
    number: str
    reason: str


class BatchResult(Out):
    batch: int
    programme: str
    to_version: int
    migrated: int
    refused: list[Refusal]
    seconds: float
    contracts_per_s: float | None


class Batch(Out):
    batch: int
    programme: str
    to_version: int
    status: str
    migrated: int
    refused: int
    rolled_back: int
    note: str
    created_by: str
    created_at: str = Field(description="ISO 8601")
    finished_at: str | None = Field(description="ISO 8601")


class BatchContract(Out):
    number: str
    status: str = Field(description="migrated, refused or rolled_back")
    reasons: list[str]
    event_seq: int | None
    rollback_seq: int | None


class BatchDetail(Batch):
    contracts: list[BatchContract]


class RollbackResult(Out):
    batch: int
    rolled_back: int
    refused: list[Refusal] = Field(description="contracts that moved since, and why")


@router.post("/migrations/dry-run", response_model=DryRun, responses=errors(401, 403, 404, 422))
def migration_dry_run(body: MigrationSelection, caller: MigratorDep, aqd: AqdDep) -> dict[str, Any]:
    """Per selected running contract: can it move to the target version (and which new
    steps lie ahead of it), or why not. Changes nothing (programme managers)."""
    return aqd.migration_dry_run(migration.Selection(**body.model_dump())).to_dict()


@router.post(
    "/migrations",
    status_code=201,
    response_model=BatchResult,
    responses=errors(401, 403, 404, 409, 422),
)
def migrate(body: MigrationRequest, caller: MigratorDep, aqd: AqdDep) -> dict[str, Any]:
    """Migrate the selected contracts, one audited command and transaction each; the
    batch lists the contracts refused and why (programme managers)."""
    values = body.model_dump()
    note = values.pop("note")
    selection = migration.Selection(**values)
    return aqd.migrate_contracts(selection, caller.principal.username, note).to_dict()


@router.get("/migrations", response_model=list[Batch], responses=AUTHED)
def migrations(
    caller: MigratorDep, s: ReadSession, programme: SHORT = None
) -> list[dict[str, Any]]:
    """Migration batches, newest first (programme managers)."""
    return migration.list_batches(s, programme)


@router.get(
    "/migrations/{batch_id}", response_model=BatchDetail, responses=errors(401, 403, 404, 422)
)
def migration_batch(batch_id: BATCH_ID, caller: MigratorDep, s: ReadSession) -> dict[str, Any]:
    """One batch, per contract: migrated, refused (why) or rolled back (programme managers)."""
    return migration.batch_detail(s, batch_id)


@router.post(
    "/migrations/{batch_id}/rollback",
    response_model=RollbackResult,
    responses=errors(401, 403, 404, 409, 422),
)
def migration_rollback(
    batch_id: BATCH_ID, body: RollbackRequest, caller: MigratorDep, aqd: AqdDep
) -> dict[str, Any]:
    """Put the batch's contracts back on their old version; those whose migrated workflow
    moved since are listed with why not. 409 if none is left to roll back."""
    return aqd.rollback_migration(batch_id, caller.principal.username, body.reason).to_dict()
