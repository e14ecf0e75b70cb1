"""Deploying programme folders as immutable, content-addressed definition versions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import DefinitionInvalid, DefinitionProblem
from engine.models import ProcessDefinition
from engine.runtime.definitions import Bundle, compile_bundle, main_process_id, read_sources
from engine.runtime.sandbox import Sandbox
from engine.runtime.serializer import SERIALIZER_VERSION

_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass
class Deployed:
    definition: ProcessDefinition
    created: bool


def check_folder(path: Path, sandbox: Sandbox) -> Bundle:
    """Parse and check ``path`` without storing anything (``aqd deploy --check``)."""
    key, sources = read_sources(path)
    if path.is_file():
        # A single .bpmn file is keyed by its (main) process id.
        key = main_process_id(sources[path.name]) or key
    return compile_bundle(key, sources, sandbox)


def deploy(
    session: Session,
    path: Path,
    sandbox: Sandbox,
    clock: Clock,
    actor: str = "cli",
    note: str = "",
) -> Deployed:
    """Store ``path`` as a new version of its programme, unless this exact content exists."""
    bundle = check_folder(path, sandbox)
    if not set(bundle.programme) <= _KEY_CHARS:
        raise DefinitionInvalid(
            [
                DefinitionProblem(
                    str(path),
                    f"programme key {bundle.programme!r} must be lower-case a-z, 0-9, _ -",
                )
            ]
        )
    existing = session.scalar(
        select(ProcessDefinition).where(
            ProcessDefinition.programme == bundle.programme,
            ProcessDefinition.content_hash == bundle.content_hash,
        )
    )
    if existing is not None:
        return Deployed(existing, created=False)
    latest = session.scalar(
        select(func.max(ProcessDefinition.version)).where(
            ProcessDefinition.programme == bundle.programme
        )
    )
    definition = ProcessDefinition(
        programme=bundle.programme,
        version=(latest or 0) + 1,
        content_hash=bundle.content_hash,
        main_process=bundle.main_process,
        sources=bundle.sources,
        specs=bundle.specs,
        meta=bundle.metadata(),
        parameters=bundle.parameters,
        serializer_version=SERIALIZER_VERSION,
        status="active",
        note=note,
        deployed_by=actor,
        deployed_at=clock.now(),
    )
    session.add(definition)
    session.flush()
    return Deployed(definition, created=True)


def list_definitions(session: Session, programme: str | None = None) -> list[ProcessDefinition]:
    stmt = select(ProcessDefinition).order_by(
        ProcessDefinition.programme, ProcessDefinition.version
    )
    if programme:
        stmt = stmt.where(ProcessDefinition.programme == programme)
    return list(session.scalars(stmt))
