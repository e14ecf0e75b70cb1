"""Shared helpers for programme tests: evaluate a decision exactly as a contract would."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from engine.kernel.planning import resolve_parameters
from engine.runtime.decisions import decide
from engine.runtime.definitions import read_sources
from engine.runtime.sandbox import Sandbox
from tests.conftest import ROOT


def decision(
    programme: str, decision_id: str, case: dict[str, Any], on: datetime | None = None
) -> dict[str, Any]:
    """The outputs of ``decision_id`` for ``case``, with the parameters in force on ``on``."""
    on = on or datetime(2025, 3, 1, tzinfo=UTC)
    sources = read_sources(ROOT / "processes" / programme)[1]
    params = resolve_parameters(json.loads(sources["parameters.json"]), on)
    return decide(sources, decision_id, {**case, "params": params}, Sandbox(), on).outputs
