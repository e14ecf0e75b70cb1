"""Verification of many contracts: each replayed (``replay``), its histories read in batches that
share one snapshot, its documents' bytes and, on request, their signatures checked with the
engine's document validators; over several processes, each building its engine from the
composition root that built the caller's (``Plugins.root``).
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from engine.audit.anchors import anchored_heads, check_contract
from engine.audit.replay import (
    ReplayReport,
    check_documents,
    document_rows,
    load_histories,
    replay_history,
)
from engine.commands.aqd import Aqd
from engine.config import Settings
from engine.db import dispose_all
from engine.plugins import root_named
from engine.runtime.workflow import Specs


@dataclass
class BatchReport:
    """Verification of many contracts (``aqd verify-contracts``)."""

    checked: int = 0
    passed: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    #: Signed documents whose signatures were validated (``signatures=True``), else 0.
    signatures_validated: int = 0
    #: Contracts whose history reaches an anchored (time-stamped) head.
    anchored: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "passed": self.passed,
            "failed": self.failed,
            "signatures_validated": self.signatures_validated,
            "anchored": self.anchored,
            "seconds": round(self.seconds, 3),
            "contracts_per_s": round(self.checked / self.seconds, 1) if self.seconds else None,
        }


#: Contracts whose histories one batch reads (three queries per batch).
BATCH_SIZE = 200


def _snapshot_session(aqd: Aqd) -> Session:
    """A session whose reads share one snapshot (on PostgreSQL a repeatable-read, read-only
    transaction): a batch's contracts, events and stored states are read as of one moment, so
    a command committing between its queries cannot look like a divergence."""
    session: Session = aqd.session()
    if session.get_bind().dialect.name == "postgresql":
        session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
    return session


def verify_batch(
    aqd: Aqd, contract_ids: list[int], *, signatures: bool = False
) -> list[ReplayReport | None]:
    """Replay the given contracts, their histories read in one snapshot; one report per id,
    in order (None for a contract that does not exist). Each stored document must be bytes an
    event recorded; with ``signatures`` each signed document's signatures are validated too
    (its bytes read here: slower), which is what holds against someone able to rewrite the
    database, hash chain included, since that forger cannot sign."""
    with _snapshot_session(aqd) as session:
        histories = load_histories(aqd, session, contract_ids)
        documents = document_rows(session, list(histories), with_content=signatures)
        heads = anchored_heads(session, list(histories))
        out: list[ReplayReport | None] = []
        for contract_id in contract_ids:
            found = histories.get(contract_id)
            if found is None:
                out.append(None)
                continue
            definition_id, history = found

            def specs_of(pid: str, definition_id: int = definition_id) -> Specs:
                return aqd.specs(session, definition_id, pid)

            report = replay_history(history, aqd.runner, specs_of)
            check_documents(
                documents.get(contract_id, []),
                history["events"],
                report,
                validate_with=aqd if signatures else None,
            )
            check_contract(heads.get(contract_id, []), history["events"], report)
            out.append(report)
        session.rollback()
    return out


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _tally(report: BatchReport, contract_id: int, result: ReplayReport | None) -> None:
    report.checked += 1
    if result is None:
        report.failed.append(
            {
                "contract_id": contract_id,
                "contract": str(contract_id),
                "first_divergent_seq": None,
                "problem": "contract not found",
            }
        )
        return
    report.signatures_validated += result.signatures_validated
    report.anchored += result.anchored is not None
    if result.ok:
        report.passed += 1
    else:
        report.failed.append(
            {
                "contract_id": contract_id,
                "contract": result.number,
                "first_divergent_seq": result.first_divergent_seq,
                "problem": result.problems[0],
            }
        )


def verify_contracts(
    aqd: Aqd,
    contract_ids: list[int],
    progress: Any = None,
    batch_size: int = BATCH_SIZE,
    *,
    signatures: bool = False,
) -> BatchReport:
    """Replay each contract, reading histories ``batch_size`` contracts at a time, and
    summarise the failures (a contract that does not exist is one); ``signatures``: validate
    each signed document's signatures too (``verify_batch``)."""
    if signatures:
        aqd.plugins.require_validators()
    report = BatchReport()
    started = time.perf_counter()
    for chunk in _chunks(list(contract_ids), batch_size):
        for contract_id, result in zip(
            chunk, verify_batch(aqd, chunk, signatures=signatures), strict=True
        ):
            _tally(report, contract_id, result)
            if progress is not None:
                progress(report.checked, len(contract_ids))
    report.seconds = time.perf_counter() - started
    return report


#: Contracts per unit of work handed to a verification process: small enough that the
#: processes finish together on a machine other work slows unevenly.
PARALLEL_CHUNK = 50


def _verify_chunks(aqd: Aqd, todo: Any, out: Any, signatures: bool) -> None:
    """Take chunks from ``todo`` until a None, verifying each; put one report at the end."""
    report = BatchReport()
    while True:
        chunk = todo.get()
        if chunk is None:
            break
        for contract_id, result in zip(
            chunk, verify_batch(aqd, chunk, signatures=signatures), strict=True
        ):
            _tally(report, contract_id, result)
    out.put(report.to_dict())


def _verify_worker(root: str, settings: Settings, todo: Any, out: Any, signatures: bool) -> None:
    """A spawned verification process: its engine comes from the same composition root as its
    parent's (``Plugins.root``), so it has the same document validators."""
    aqd = root_named(root)(settings) if root else Aqd(settings=settings)
    try:
        _verify_chunks(aqd, todo, out, signatures)
    finally:
        dispose_all()


def verify_contracts_parallel(
    aqd: Aqd,
    contract_ids: list[int],
    processes: int = 2,
    chunk_size: int = PARALLEL_CHUNK,
    *,
    signatures: bool = False,
) -> BatchReport:
    """``verify_contracts`` over ``processes`` processes (replay is CPU-bound: one core each):
    this one (with ``aqd``) and ``processes - 1`` spawned workers, each with its own engine
    (built by ``aqd``'s composition root) and definition cache, taking chunks of contracts from
    one queue so they finish together even when the machine slows one of them; failures in
    input order."""
    if processes <= 1 or len(contract_ids) < 2 * chunk_size:
        return verify_contracts(aqd, contract_ids, signatures=signatures)
    if signatures:
        aqd.plugins.require_validators()
    settings = aqd.settings.model_copy(update={"database_url": aqd.database_url})
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    todo, out = ctx.Queue(), ctx.Queue()
    for chunk in _chunks(list(contract_ids), chunk_size):
        todo.put(chunk)
    for _ in range(processes):
        todo.put(None)
    workers = [
        ctx.Process(target=_verify_worker, args=(aqd.plugins.root, settings, todo, out, signatures))
        for _ in range(processes - 1)
    ]
    for w in workers:
        w.start()
    try:
        _verify_chunks(aqd, todo, out, signatures)
        parts: list[dict[str, Any]] = []
        while len(parts) < processes:
            try:
                parts.append(out.get(timeout=1.0))
            except queue.Empty:
                dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a verification process exited with {dead[0]}") from None
        for w in workers:
            w.join()
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
    order = {n: i for i, n in enumerate(contract_ids)}
    report = BatchReport(
        checked=sum(p["checked"] for p in parts),
        passed=sum(p["passed"] for p in parts),
        failed=[f for p in parts for f in p["failed"]],
        signatures_validated=sum(p["signatures_validated"] for p in parts),
        anchored=sum(p["anchored"] for p in parts),
    )
    report.failed.sort(key=lambda f: order.get(f.get("contract_id", 0), 0))
    report.seconds = time.perf_counter() - started
    return report
