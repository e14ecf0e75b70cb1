"""Deploying programme folders as immutable, content-addressed definition versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import DefinitionInvalid, DefinitionProblem, InvalidInput, NotFound
from engine.kernel.planning import resolve_parameters
from engine.models import ProcessDefinition
from engine.runtime.decisions import decide
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
    return store_bundle(session, bundle, clock, actor, note)


def store_bundle(session: Session, bundle: Bundle, clock: Clock, actor: str, note: str) -> Deployed:
    """Store a checked bundle as the programme's next version, unless this content exists."""
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


def definition_in_force(session: Session, programme: str, on: datetime | None) -> ProcessDefinition:
    """The latest active version of ``programme`` deployed at or before ``on`` (default: now)."""
    stmt = select(ProcessDefinition).where(
        ProcessDefinition.programme == programme, ProcessDefinition.status == "active"
    )
    if on is not None:
        stmt = stmt.where(ProcessDefinition.deployed_at <= on)
    found = session.scalars(stmt.order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if found is None:
        when = f" on {on.date().isoformat()}" if on else ""
        raise NotFound(f"programme {programme!r} has no deployed definition{when}")
    return found


def evaluate_decision(
    session: Session,
    programme: str,
    decision_id: str,
    case: dict[str, Any],
    sandbox: Sandbox,
    clock: Clock,
    on: datetime | None = None,
) -> dict[str, Any]:
    """Evaluate one decision table of the version in force on ``on`` for one case (``aqd
    decide``); the programme's parameters in force on that date are available as ``params``."""

    if not isinstance(case, dict):
        raise InvalidInput("the case must be a JSON object")
    definition = definition_in_force(session, programme, on)
    at = on or clock.now()
    data = {"params": resolve_parameters(definition.parameters, at), **case}
    result = decide(definition.sources, decision_id, data, sandbox, at)
    return {
        "programme": programme,
        "version": definition.version,
        "decision": result.decision,
        "on": at.date().isoformat(),
        "outputs": result.outputs,
        "matched_rules": result.matched,
    }
