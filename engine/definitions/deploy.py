"""Deploying programme folders as immutable, content-addressed definition versions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import (
    DefinitionInvalid,
    DefinitionProblem,
    InvalidInput,
    NoRuleInForce,
    ProcessError,
)
from engine.kernel.planning import resolve_parameters
from engine.kernel.versions import version_in_force
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
    applies_from: date | None = None,
) -> Deployed:
    """Store ``path`` as a new version of its programme, unless this exact content exists.

    The version applies to requests made from ``applies_from`` on (default: the day it is
    deployed); a date in the past or the future is the deployer's explicit choice."""
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
    return store_bundle(session, bundle, clock, actor, note, applies_from)


def store_bundle(
    session: Session,
    bundle: Bundle,
    clock: Clock,
    actor: str,
    note: str,
    applies_from: date | None = None,
) -> Deployed:
    """Store a checked bundle as the programme's next version, unless this content exists;
    it applies from ``applies_from`` (default: today)."""
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
        applies_from=applies_from or clock.now().date(),
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
    """The version of ``programme`` whose rules apply on ``on`` (default: now)."""
    return version_in_force(session, programme, (on or datetime.now(UTC)).date())


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
    decide``); the programme's parameters in force on that date are available as ``params``.

    A day the decision has no rule for answers :class:`NoRuleInForce` in one line: no rule
    matched the case (an amount table whose amounts are not in force then), or the decision
    failed while it reads a parameter that has no value on that day."""

    if not isinstance(case, dict):
        raise InvalidInput("the case must be a JSON object")
    at = on or clock.now()
    definition = definition_in_force(session, programme, at)
    day = at.date().isoformat()
    params = resolve_parameters(definition.parameters, at)
    data = {"params": params, **case}
    try:
        result = decide(definition.sources, decision_id, data, sandbox, at)
    except ProcessError as exc:
        missing = missing_parameters(definition, decision_id, params)
        if not missing:
            raise
        raise NoRuleInForce(
            f"no rule in force on {day}: {decision_id} reads {', '.join(missing)}, "
            "with no value on that day",
            fields={"on": day, "decision": decision_id, "parameters": ", ".join(missing)},
        ) from exc
    if not result.matched:
        raise NoRuleInForce(
            f"no rule in force on {day}: no rule of {decision_id} (version "
            f"{definition.version}) applies to this case on that day",
            fields={"on": day, "decision": decision_id},
        )
    return {
        "programme": programme,
        "version": definition.version,
        "applies_from": definition.applies_from.isoformat(),
        "decision": result.decision,
        "on": day,
        "outputs": result.outputs,
        "matched_rules": result.matched,
    }


def missing_parameters(
    definition: ProcessDefinition, decision_id: str, params: dict[str, Any]
) -> list[str]:
    """The parameters the decision's file reads (``params["name"]``) that have no value."""
    declared = set(definition.parameters.get("parameters", {}))
    text = next(
        (
            source
            for name, source in sorted(definition.sources.items())
            if name.endswith(".dmn") and f'id="{decision_id}"' in source
        ),
        "",
    )
    read = set(_PARAM_READ.findall(text.replace("&quot;", '"')))
    return sorted(name for name in read if name in declared and name not in params)


_PARAM_READ = re.compile(r"""params\[["']([A-Za-z0-9_]+)["']\]""")
