"""Payment orders written in batches (the outbox runner's batch path): one transaction writes
many orders and marks their outbox rows ``awaiting``; duplicates are answered from the stored
order; whatever is not the simple case (no account, nothing to pay, a re-issue) ends exactly as
on the per-item path; a failing batch falls back to the per-item path and loses nothing. Every
test runs on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from engine.models import Beneficiary, Contract, HumanTask, Outbox, ProcessInstance
from engine.models.payments import PaymentOrder
from engine.outbox import runner as outbox
from engine.outbox.handlers import (
    HandlerResult,
    OutboxItem,
    SideEffectError,
)
from engine.payments import devbank, orders
from engine.payments.accounts import make_rib
from engine.payments.batches import create_batch, debtor_account
from engine.payments.orders import (
    KIND,
    end_to_end_id,
    handle_payment_order,
    handle_payment_orders,
    upsert_account,
)
from engine.payments.reconcile import reconcile
from engine.worker.celery_app import make_celery
from tests.conftest import AGREEMENT, World

RIB = make_rib(8, 1, 4242)
GOOD_RIB = make_rib(10, 2, 777)


# -- helpers -------------------------------------------------------------------------------------


def contracts(world: World, n: int, accounts: list[str | None] | None = None) -> list[int]:
    """``n`` active CIVP contracts, each for a beneficiary of its own (with the RIB of
    ``accounts[i]``, none if None; ``RIB`` for all by default), their first month waiting for
    its timer."""
    accounts = accounts if accounts is not None else [RIB] * n
    with world.aqd.session() as s:
        known = s.scalar(select(func.count()).select_from(Beneficiary)) or 0
    cins = [f"{30000000 + known + i}" for i in range(n)]
    with world.aqd.session() as s, s.begin():
        for cin in cins:
            s.add(Beneficiary(cin=cin, first_name="Bénéficiaire", last_name=cin, office_id=1))
    with world.aqd.session() as s, s.begin():
        for cin, rib in zip(cins, accounts, strict=True):
            person = s.scalar(select(Beneficiary.id).where(Beneficiary.cin == cin))
            assert person is not None
            if rib is not None:
                upsert_account(s, "beneficiary", person, rib, world.clock.now(), "test")
    ids = []
    for cin in cins:
        cid = world.start(beneficiary_cin=cin)
        world.complete(cid, "employer_agreement", AGREEMENT, "employer")
        world.complete(cid, "counsellor_validation", {"validation_decision": "validate"}, "c")
        world.sign_all(cid)
        ids.append(cid)
    return ids


def month_end(world: World, cids: list[int]) -> None:
    """Open every contract's attendance sheet and move past the month's end."""
    world.month_end(*cids)


def attendance(world: World, cid: int, days: int = 20) -> None:
    world.complete(cid, "attendance", {"days_present": days}, "employer")


def ordered(world: World, n: int, accounts: list[str | None] | None = None) -> list[int]:
    """``n`` contracts whose first month ended and whose attendance is recorded: each has
    thrown its payment order (a pending outbox row)."""
    cids = contracts(world, n, accounts)
    month_end(world, cids)
    for cid in cids:
        attendance(world, cid)
    return cids


def rows(world: World) -> dict[int, Outbox]:
    """The payment outbox rows by contract (one order per contract unless re-issued: the
    latest)."""
    with world.aqd.session() as s:
        query = select(Outbox).where(Outbox.kind == KIND).order_by(Outbox.id)
        return {row.contract_id or 0: row for row in s.scalars(query)}


def stored_orders(world: World) -> list[PaymentOrder]:
    with world.aqd.session() as s:
        return list(s.scalars(select(PaymentOrder).order_by(PaymentOrder.id)))


def ready(world: World, cid: int) -> list[str]:
    with world.aqd.session() as s:
        query = select(HumanTask.bpmn_id).where(
            HumanTask.contract_id == cid, HumanTask.status == "ready"
        )
        return sorted(s.scalars(query))


def instances(world: World, cid: int) -> list[tuple[str, str]]:
    """The contract's process instances (lifecycle, months) and their status."""
    with world.aqd.session() as s:
        query = (
            select(ProcessInstance.key, ProcessInstance.status)
            .where(ProcessInstance.contract_id == cid)
            .order_by(ProcessInstance.id)
        )
        return [(key, status) for key, status in s.execute(query)]


@contextmanager
def commits(world: World) -> Iterator[list[int]]:
    """Count the transactions committed on the engine's database inside the block."""
    counted: list[int] = []

    def count(conn: Any) -> None:
        counted.append(1)

    event.listen(world.aqd.db, "commit", count)
    try:
        yield counted
    finally:
        event.remove(world.aqd.db, "commit", count)


def summary(key: str, status: str = "ordered", amount: str = "200.000") -> dict[str, str]:
    return {"order": end_to_end_id(key), "status": status, "amount": amount}


@pytest.fixture
def per_item_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The outbox ids the runner sends through the per-item ``execute``."""
    calls: list[int] = []
    original = outbox.execute

    def spy(aqd: Any, item: OutboxItem, run: Any = None) -> str:
        calls.append(item.id)
        return original(aqd, item, run)

    monkeypatch.setattr(outbox, "execute", spy)
    return calls


# -- tests ---------------------------------------------------------------------------------------


def test_the_payments_adapter_registers_its_batch_form(world: World) -> None:
    plugins = world.aqd.plugins  # built by engine.bootstrap, which registers the adapter
    assert plugins.handler_for(KIND) is handle_payment_order
    assert plugins.batch_handler_for(KIND) is handle_payment_orders
    # a replaced per-item handler (a test double, another adapter) turns the batch form off
    plugins.register_handler(KIND, lambda aqd, item: HandlerResult())
    assert plugins.batch_handler_for(KIND) is None
    plugins.register_handler(KIND, handle_payment_order)
    assert plugins.batch_handler_for(KIND) is handle_payment_orders


def test_a_batch_writes_every_order_and_marks_every_row_in_one_transaction(
    world: World, per_item_calls: list[int]
) -> None:
    cids = ordered(world, 6)
    with commits(world) as committed:
        run = outbox.run_once(world.aqd)
    assert (run.claimed, run.awaiting, run.done, run.failed, run.duplicates) == (6, 6, 0, 0, 0)
    # reap, claim, and one transaction for the six orders and their six outbox rows
    # (the per-item path commits two per order: 14)
    assert len(committed) == 3
    assert per_item_calls == []
    written = stored_orders(world)
    assert sorted(o.contract_id for o in written) == sorted(cids)
    assert len({o.idempotency_key for o in written}) == 6
    by_contract = rows(world)
    for order in written:
        row = by_contract[order.contract_id]
        assert row.idempotency_key == order.idempotency_key
        assert (row.status, row.lease_until, row.last_error) == ("awaiting", None, None)
        assert row.result == summary(order.idempotency_key)
        assert (order.status, order.amount_millimes, order.rib, order.iban) == (
            "ordered",
            200_000,
            RIB,
            f"TN59{RIB}",
        )
        assert (order.office_code, order.period, order.contract_month) == ("TUN", "2025-04", 1)
        assert order.payee_name.startswith("Bénéficiaire 3")
    assert outbox.run_once(world.aqd).claimed == 0  # awaiting rows are neither claimed nor reaped


def test_batch_orders_match_the_per_item_handler_for_both_payees(world: World) -> None:
    """The batch's facts query (many contracts, both payee kinds) gives the same rows as the
    per-item handler's: the same items under twin keys, written both ways."""
    cids = contracts(world, 2)
    with world.aqd.session() as s, s.begin():
        upsert_account(s, "employer", 1, GOOD_RIB, world.clock.now(), "test")
    payloads: list[dict[str, Any]] = [
        {"payee": "employer", "kind": "reimbursement", "period": 2, "amount": "350.5"},
        {"payee": "beneficiary", "kind": "stipend", "period": 1, "month": "2025-05-17"},
        {"kind": "stipend", "period": 3, "amount": 12.345},  # payee defaults to beneficiary
    ]
    payloads[1]["amount"] = "200"
    items = [
        OutboxItem(
            id=len(payloads) * 2 * c + 2 * n + t,
            contract_id=cid,
            kind=KIND,
            idempotency_key=f"payment:{cid}:{n}:{twin}",
            payload=payload,
            attempts=1,
        )
        for c, cid in enumerate(cids)
        for n, payload in enumerate(payloads)
        for t, twin in enumerate(("batch", "item"))
    ]
    batch = [i for i in items if i.idempotency_key.endswith(":batch")]
    single = [i for i in items if i.idempotency_key.endswith(":item")]
    with world.aqd.session() as s, s.begin():
        outcome = handle_payment_orders(world.aqd, s, batch)
    results = {i.idempotency_key: handle_payment_order(world.aqd, i) for i in single}
    assert len(outcome.awaiting) == len(batch) == 6
    columns = [
        c.key
        for c in PaymentOrder.__table__.columns
        if c.key not in ("id", "idempotency_key", "end_to_end_id")
    ]
    written = {o.idempotency_key: o for o in stored_orders(world)}
    for item in batch:
        twin = item.idempotency_key.replace(":batch", ":item")
        got, want = written[item.idempotency_key], written[twin]
        assert [getattr(got, c) for c in columns] == [getattr(want, c) for c in columns]
        assert results[twin].awaiting
        expected = dict(results[twin].result, order=end_to_end_id(item.idempotency_key))
        assert outcome.awaiting[item.id] == expected
    employer = written[f"payment:{cids[0]}:0:batch"]
    assert (employer.payee_kind, employer.payee_name, employer.rib) == (
        "employer",
        "ACME",
        GOOD_RIB,
    )
    assert employer.amount_millimes == 350_500


def test_an_order_already_written_is_not_written_again(
    world: World, per_item_calls: list[int]
) -> None:
    ordered(world, 4)
    items = outbox.claim(world.aqd)
    assert len(items) == 4
    first, second = items[0], items[1]
    # a worker wrote two orders and died before marking the rows; one was batched since
    written = handle_payment_order(world.aqd, second).result
    with world.aqd.session() as s, s.begin():
        assert (
            create_batch(
                s, "TUN", "2025-04", world.clock.now(), "test", debtor_account(world.aqd.settings)
            )
            is not None
        )
    before = {first.id: handle_payment_order(world.aqd, first).result}
    batched = handle_payment_order(world.aqd, second).result  # what the per-item path answers
    assert written["status"] == "ordered" and batched["status"] == "batched"
    run = outbox.execute_batch(world.aqd, items)
    assert (run.awaiting, run.duplicates, run.failed) == (4, 0, 0)
    assert per_item_calls == []
    assert len(stored_orders(world)) == 4  # nothing written twice
    by_id = {row.id: row for row in rows(world).values()}
    assert by_id[first.id].result == before[first.id] == summary(first.idempotency_key)
    assert by_id[second.id].result == batched == summary(second.idempotency_key, "batched")
    assert {row.status for row in by_id.values()} == {"awaiting"}
    # the same rows delivered again: nothing written, nothing marked twice
    again = outbox.execute_batch(world.aqd, items)
    assert (again.awaiting, again.duplicates) == (0, 4)
    assert len(stored_orders(world)) == 4
    assert {row.id: row.result for row in rows(world).values()} == {
        i: r.result for i, r in by_id.items()
    }


ROLES = ("simple", "no_account", "invalid_rib", "nothing", "reissue")


def _mixed(world: World) -> tuple[dict[str, int], dict[str, int]]:
    """Two identical sets of one contract of each kind: a simple order, no account, an invalid
    stored RIB, nothing to pay, and a re-issue (its first order rejected by the bank, the
    counsellor fixed the account); their payment rows pending."""
    accounts: list[str | None] = [RIB, None, "12345", RIB, RIB]
    cids = contracts(world, 10, accounts * 2)
    sets = (dict(zip(ROLES, cids[:5], strict=True)), dict(zip(ROLES, cids[5:], strict=True)))
    month_end(world, cids)
    for one in sets:
        attendance(world, one["reissue"])
    run = outbox.run_once(world.aqd)
    assert run.awaiting == 2
    with world.aqd.session() as s, s.begin():
        files = create_batch(
            s, "TUN", "2025-04", world.clock.now(), "test", debtor_account(world.aqd.settings)
        )
    assert files is not None
    rejected = {o.end_to_end_id: "AC04" for o in stored_orders(world)}
    report = reconcile(world.aqd, devbank.answer(files.xml, world.clock.now(), rejected))
    assert report.rejected == 2
    for one in sets:
        world.complete(one["reissue"], "fix_payee_account", {"rib": GOOD_RIB}, "counsellor")
        for role in ("simple", "no_account", "invalid_rib"):
            attendance(world, one[role])
        attendance(world, one["nothing"], days=0)
    return sets


def _outcome(world: World, cid: int) -> dict[str, Any]:
    """What the payment of ``cid`` left, with the contract's number taken out of the keys."""
    with world.aqd.session() as s:
        number = s.scalar(select(Contract.number).where(Contract.id == cid))
    assert number is not None
    row = rows(world)[cid]
    result = dict(row.result or {})
    if "order" in result:
        assert result["order"] == end_to_end_id(row.idempotency_key)
        result["order"] = "e2e"
    written = [
        (o.status, o.reject_reason, o.amount_millimes, o.rib, o.iban, o.period, bool(o.reissue_of))
        for o in stored_orders(world)
        if o.contract_id == cid
    ]
    return {
        "key": row.idempotency_key.replace(number, "N"),
        "status": row.status,
        "result": result,
        "error": row.last_error,
        "attempts": row.attempts,
        "orders": written,
        "ready": ready(world, cid),
        "instances": instances(world, cid),
    }


def test_a_mixed_batch_ends_exactly_as_the_per_item_path(
    world: World, per_item_calls: list[int]
) -> None:
    batched, single = _mixed(world)
    items = outbox.claim(world.aqd)
    assert len(items) == 10
    role_of = {cid: role for role, cid in batched.items()}
    mine = [i for i in items if i.contract_id in role_of]
    theirs = [i for i in items if i.contract_id not in role_of]
    via_batch = outbox.execute_batch(world.aqd, mine)
    # the batch wrote the simple order; the others went through the per-item handler
    sent = {role_of[i.contract_id or 0] for i in mine if i.id in per_item_calls}
    assert sent == {"no_account", "invalid_rib", "nothing", "reissue"}
    per_item = outbox.OutboxRun()
    for item in theirs:
        outbox.execute(world.aqd, item, per_item)
    assert via_batch == per_item
    assert (via_batch.awaiting, via_batch.done, via_batch.failed) == (2, 1, 2)
    for role in batched:
        assert _outcome(world, batched[role]) == _outcome(world, single[role]), role
    simple = _outcome(world, batched["simple"])
    assert (simple["status"], simple["result"]["status"]) == ("awaiting", "ordered")
    no_account = _outcome(world, batched["no_account"])
    assert no_account["orders"][0][:2] == ("rejected", "NO_ACCOUNT")
    assert "fix_payee_account" in no_account["ready"]
    assert _outcome(world, batched["invalid_rib"])["orders"][0][:2] == (
        "rejected",
        "INVALID_RIB",
    )
    assert _outcome(world, batched["nothing"])["result"] == {
        "status": "nothing_to_pay",
        "amount": "0.000",
    }
    reissue = _outcome(world, batched["reissue"])
    assert [o[0] for o in reissue["orders"]] == ["reissued", "ordered"]
    assert reissue["key"].endswith(":reissue1") and reissue["status"] == "awaiting"


@pytest.mark.parametrize("where", ["facts", "marks"])
def test_a_failing_batch_falls_back_to_one_by_one_and_loses_nothing(
    world: World, per_item_calls: list[int], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    ordered(world, 4)
    left_behind: list[int] = []
    original_execute = outbox.execute

    def execute(aqd: Any, item: OutboxItem, run: Any = None) -> str:
        left_behind.append(len(stored_orders(world)))
        return original_execute(aqd, item, run)

    monkeypatch.setattr(outbox, "execute", execute)
    marked: list[int] = []
    original_mark = outbox._mark_awaiting

    def mark_then_fail(session: Any, results: dict[int, dict[str, Any]]) -> set[int]:
        marked.extend(original_mark(session, results))  # orders inserted, rows marked ...
        raise RuntimeError("connection lost before the commit")  # ... and rolled back

    def facts_fail(session: Any, contract_ids: list[int]) -> Any:
        raise RuntimeError("statement timeout")

    if where == "marks":
        monkeypatch.setattr(outbox, "_mark_awaiting", mark_then_fail)
    else:
        monkeypatch.setattr(orders, "_facts_many", facts_fail)
    run = outbox.run_once(world.aqd)
    assert len(marked) == (4 if where == "marks" else 0)  # done everything but commit, or none
    assert left_behind[0] == 0  # the batch's orders rolled back with its marks
    assert len(left_behind) == 4  # every item then went through the per-item path
    assert (run.claimed, run.awaiting, run.duplicates, run.retried) == (4, 4, 0, 0)
    written = stored_orders(world)
    assert len(written) == len({o.idempotency_key for o in written}) == 4
    for row in rows(world).values():
        assert row.status == "awaiting" and row.result == summary(row.idempotency_key)


def test_one_bad_row_does_not_block_the_others(
    world: World, per_item_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    cids = ordered(world, 4)
    bad = rows(world)[cids[2]].idempotency_key
    original = orders._order_values

    def values(item: OutboxItem, *args: Any) -> dict[str, Any]:
        if item.idempotency_key == bad:
            raise ValueError("corrupt payload")
        return original(item, *args)

    monkeypatch.setattr(orders, "_order_values", values)
    with commits(world) as committed:
        run = outbox.run_once(world.aqd)
    assert (run.claimed, run.awaiting, run.retried, run.failed) == (4, 3, 1, 0)
    by_contract = rows(world)
    # the batch wrote the three others; the bad row went alone to the per-item path (retry)
    assert per_item_calls == [by_contract[cids[2]].id]
    assert len(committed) == 4  # reap, claim, the batch, the bad row's release
    assert by_contract[cids[2]].status == "pending"
    assert "ValueError: corrupt payload" in (by_contract[cids[2]].last_error or "")
    assert [by_contract[c].status for c in (cids[0], cids[1], cids[3])] == ["awaiting"] * 3
    assert len(stored_orders(world)) == 3
    # the payload is repaired (here: the fault goes away); the row is retried after its backoff
    monkeypatch.setattr(orders, "_order_values", original)
    world.clock.advance(minutes=1)
    again = outbox.run_once(world.aqd)
    assert (again.claimed, again.awaiting) == (1, 1)
    assert rows(world)[cids[2]].result == summary(bad)
    assert len(stored_orders(world)) == 4


def test_an_order_already_rejected_is_reported_as_the_per_item_path_does(
    world: World, per_item_calls: list[int]
) -> None:
    """A worker wrote an order rejected at once (no account) and died before reporting it; the
    account was entered since. The batch must not hand the stored rejection over as an order:
    the per-item path reports it to the contract (the counsellor's task), as it would have."""
    cids = ordered(world, 3, [RIB, None, RIB])
    items = outbox.claim(world.aqd)
    [late] = [i for i in items if i.contract_id == cids[1]]
    with pytest.raises(SideEffectError, match="NO_ACCOUNT"):
        handle_payment_order(world.aqd, late)
    with world.aqd.session() as s, s.begin():
        person = s.scalar(select(Contract.beneficiary_id).where(Contract.id == cids[1]))
        assert person is not None
        upsert_account(s, "beneficiary", person, GOOD_RIB, world.clock.now(), "test")
    run = outbox.execute_batch(world.aqd, items)
    assert per_item_calls == [late.id]
    assert (run.awaiting, run.failed, run.duplicates) == (2, 1, 0)
    row = rows(world)[cids[1]]
    assert row.status == "failed"
    assert row.result == {"error": "NO_ACCOUNT: payee has no usable account"}
    assert "fix_payee_account" in ready(world, cids[1])
    assert len(stored_orders(world)) == 3


def test_the_celery_relay_sends_payment_orders_as_one_batch_task(
    world: World, per_item_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_celery(lambda settings: world.aqd)  # the worker's engine: this test's
    monkeypatch.setitem(app.conf, "task_always_eager", True)  # tasks run here, as in a worker
    ordered(world, 5)
    sent: list[tuple[str, Any]] = []
    original = app.Task.apply_async

    def spy(task: Any, args: Any = None, **kwargs: Any) -> Any:
        sent.append((task.name, args))
        return original(task, args, **kwargs)

    monkeypatch.setattr(app.Task, "apply_async", spy)
    with commits(world) as committed:
        assert app.tasks["aqd.outbox.relay"]() == {"reaped": 0, "claimed": 5}
    assert [name for name, _ in sent] == ["aqd.outbox.execute_many"]
    ids = sent[0][1][0]
    assert len(ids) == 5
    assert len(committed) == 3  # reap, claim, one transaction for the five orders and rows
    assert per_item_calls == []
    assert {row.status for row in rows(world).values()} == {"awaiting"}
    assert len(stored_orders(world)) == 5
    # a duplicate delivery of the task finds nothing dispatched: nothing written again
    again = app.tasks["aqd.outbox.execute_many"](ids)
    assert again["skipped"] == 5 and again["awaiting"] == 0
    assert len(stored_orders(world)) == 5
