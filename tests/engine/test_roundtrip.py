"""Save/restore round trips inside the runtime (STYLE habit 9): after every step of a contract's
life, dumping, restoring and dumping again gives the same bytes, and the restored workflow keeps
running exactly like the original."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.employers import checked_private_firm
from engine.kernel.planning import resolve_parameters
from engine.kernel.signature_events import SIGNING_PARTIES, signature_result
from engine.runtime import context
from engine.runtime.definitions import compile_bundle, read_sources
from engine.runtime.sandbox import Sandbox
from engine.runtime.serializer import dump, load
from engine.runtime.workflow import Runner, Specs
from tests.conftest import AGREEMENT, ROOT


def roundtrip(wf: object, specs: Specs, runner: Runner) -> object:
    first = dump(wf)
    restored = runner.attach(load(first, "1.5", specs.fresh_dicts()))
    assert dump(restored) == first
    return restored


def test_every_step_survives_save_and_restore() -> None:
    key, sources = read_sources(ROOT / "processes" / "civp")
    bundle = compile_bundle(key, sources, Sandbox())
    runner = Runner(Sandbox())
    main = Specs(bundle.specs["civp_contract"])
    month = Specs(bundle.specs["civp_month"])
    at = datetime(2025, 3, 3, 8, tzinfo=UTC)
    data = {
        "nationality": "TN",
        "registered_at_office": True,
        "diploma_level": "HIGHER_ED",
        "months_worked_continuous": 0,
        "months_worked_total": 0,
        "disabled": False,
        "schooling_ok": True,
        "prior_civp_months": 0,
        "start_date": "2025-04-01",
        "contract_number": "CIVP-TEST",
        "employer_standing": checked_private_firm(at),
        "employer_record": {
            "completed": 0,
            "inserted": 0,
            "rate": None,
            "months_since_last_end": None,
        },
        "params": resolve_parameters(bundle.parameters, at),
    }
    seq = 0
    with context.command_context(at, "T:0"):
        wf, _ = runner.new(main, data)
    wf = roundtrip(wf, main, runner)
    for form in (AGREEMENT, {"validation_decision": "validate"}):
        with context.command_context(at, f"T:{seq}"):
            seq += 1
            task = runner.inspect(wf).ready[0]
            runner.complete(wf, task.task_guid, form)
        wf = roundtrip(wf, main, runner)
    for party in SIGNING_PARTIES:
        with context.command_context(at, f"T:{seq}"):
            seq += 1
            outcome = runner.send_message(wf, "signature_result", signature_result(party))
        wf = roundtrip(wf, main, runner)
    assert outcome is not None
    start = next(t for t in outcome.thrown if t.name == "civp_month_start")
    wf = roundtrip(wf, main, runner)
    assert runner.inspect(wf).waiting_messages == [
        "civp_term_reached",
        "request_extension",
        "suspend_contract",
        "terminate_contract",
    ]

    with context.command_context(at, "M:1"):
        month_wf, _ = runner.new(month, {**start.payload, "contract_number": "CIVP-TEST"})
        assert runner.send_message(month_wf, "civp_month_start", start.payload) is not None
    month_wf = roundtrip(month_wf, month, runner)
    due = runner.inspect(month_wf).next_due
    assert due is not None and due.date().isoformat() == "2025-04-26"  # the sheet opens
    with context.command_context(due + timedelta(minutes=1), "M:2"):
        runner.fire_timers(month_wf)
    month_wf = roundtrip(month_wf, month, runner)
    with context.command_context(due + timedelta(days=1), "M:3"):
        attendance = runner.inspect(month_wf).ready[0]
        outcome = runner.complete(month_wf, attendance.task_guid, {"days_present": 20})
    assert [t.name for t in outcome.thrown] == ["payment_order", "civp_month_start"]
    assert outcome.thrown[0].payload["amount"] == "200.000"
    assert outcome.thrown[0].payload["not_before"] == "2025-04-30T18:00:00+01:00"
    month_wf = roundtrip(month_wf, month, runner)
    with context.command_context(due + timedelta(days=2), "M:4"):
        assert runner.send_message(month_wf, "payment_confirmed", {"ref": "x"}) is not None
    month_wf = roundtrip(month_wf, month, runner)
    assert runner.inspect(month_wf).completed


def test_hot_and_cold_workflows_serialize_alike_after_nested_mutation() -> None:
    """A script mutating nested data in place: a workflow kept in memory (hot cache) and one
    restored from storage (cold) write identical bytes afterwards, and the finished task that
    created the data keeps what it recorded."""
    path = ROOT / "tests" / "engine" / "data" / "nested_mutation.bpmn"
    bundle = compile_bundle("nested", {path.name: path.read_text()}, Sandbox())
    specs = Specs(bundle.specs["nested"])
    runner = Runner(Sandbox())
    at = datetime(2025, 3, 3, 8, tzinfo=UTC)
    with context.command_context(at, "N:1"):
        hot, _ = runner.new(specs, {})
    stored = dump(hot)
    cold = runner.attach(load(stored, "1.5", specs.fresh_dicts()))
    for wf in (hot, cold):
        with context.command_context(at, "N:2"):
            assert runner.send_message(wf, "go", {}) is not None
    assert dump(hot) == dump(cold)
    assert runner.result_data(hot)["d"] == {"inner": {"n": 1}, "items": [1, 2]}
    made = next(t for t in hot.get_tasks() if t.task_spec.bpmn_id == "make")
    assert made.data["d"] == {"inner": {"n": 0}, "items": [1]}
