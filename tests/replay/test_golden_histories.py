"""Golden histories (Temporal-style replay tests): contracts recorded by an earlier engine must
replay to the same state hashes with today's engine, SpiffWorkflow and serializer. A change that
alters past behaviour fails here; regenerate only on purpose (``make_histories.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.audit.replay import replay_history

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))


def test_there_are_golden_histories() -> None:
    assert len(HISTORIES) >= 4


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_golden_history_replays(path: Path) -> None:
    history = json.loads(path.read_text())
    report = replay_history(history)
    assert report.ok, report.problems
    assert report.events == len(history["events"]) > 3


def test_altered_golden_history_fails() -> None:
    history = json.loads(HISTORIES[0].read_text())
    history["events"][2]["payload"]["data"]["agreed"] = False
    report = replay_history(history)
    assert not report.ok and report.first_divergent_seq == 3
