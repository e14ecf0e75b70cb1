"""First-time job seeker (primo-demandeur, table D0): at most 24 months of continuous and 36
months of total activity since the last diploma, boundaries included."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.kernel.planning import resolve_parameters
from engine.models import Contract
from engine.runtime.decisions import decide
from engine.runtime.definitions import read_sources
from engine.runtime.sandbox import Sandbox
from tests.conftest import ROOT, World

CASES = [
    (0, 0, True),
    (24, 24, True),
    (25, 25, False),
    (24, 36, True),
    (12, 37, False),
    (0, 36, True),
    (30, 30, False),
    (23, 40, False),
    (24, 37, False),
    (0, 37, False),
    (24, 35, True),
    (23, 36, True),
    (1, 1, True),
    (36, 36, False),
    (25, 36, False),
]


@pytest.mark.parametrize(("continuous", "total", "primo"), CASES)
def test_primo(continuous: int, total: int, primo: bool) -> None:
    sources = read_sources(ROOT / "processes" / "civp")[1]
    on = datetime(2025, 3, 1, tzinfo=UTC)
    data = {
        "months_worked_continuous": continuous,
        "months_worked_total": total,
        "params": resolve_parameters(json.loads(sources["parameters.json"]), on),
    }
    result = decide(sources, "civp_is_primo", data, Sandbox(), on)
    assert result.outputs["is_primo"] is primo
    assert result.outputs["primo_legal_basis"].startswith("D2019-542")


@pytest.mark.parametrize(("continuous", "status"), [(24, "in_review"), (25, "rejected")])
def test_primo_boundary_through_the_engine(world: World, continuous: int, status: str) -> None:
    cid = world.start(months_worked_continuous=continuous)
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None and c.status == status
