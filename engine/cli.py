# size: the command table of `python -m engine.cli` and `aqd` (one short function per command);
# the shared engine helper and the one-line refusal are in engine/cli_support.py.
"""``aqd``: the command line. Exit 0 on success; 1 with a one-line message on refused input.

The database comes from ``AQD_DATABASE_URL`` (default: SQLite under ./var/). Each command that
changes anything is one transaction, committed here at the boundary.
"""

from __future__ import annotations

import json
import random
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import analytics, bootstrap, logs
from engine.audit.anchors import create_anchor, list_anchors, verify_anchors
from engine.audit.package import export_package, verify_package
from engine.audit.replay import replay_contract
from engine.audit.verification import verify_contracts, verify_contracts_parallel
from engine.cli_support import (
    GuardedGroup,
    Refused,
    engine_root,
    fail,
    guard,
    open_engine,
    print_json,
    run,
)
from engine.commands import version_migration as migration
from engine.commands.aqd import Aqd
from engine.commands.timers import run_due_timers
from engine.commands.version_migration import Selection
from engine.config import get_settings
from engine.definitions.deploy import check_folder, deploy, evaluate_decision, list_definitions
from engine.employers.cli import app as employers_app
from engine.inbox import documents, queries
from engine.models import Contract, Outbox
from engine.notifications.cli import app as contacts_app
from engine.notifications.escalations import escalate_overdue
from engine.outbox import runner as outbox
from engine.payments.cli import app as payments_app
from engine.registry.cli import app as registry_app
from engine.schema_migrations import upgrade

app = typer.Typer(
    cls=GuardedGroup, no_args_is_help=True, add_completion=False, help="Aqd workflow engine."
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
definitions_app = typer.Typer(no_args_is_help=True, help="Deployed process definitions.")
contracts_app = typer.Typer(no_args_is_help=True, help="Contracts (process instances).")
tasks_app = typer.Typer(no_args_is_help=True, help="Human tasks (the inbox).")
timers_app = typer.Typer(no_args_is_help=True, help="Timers.")
messages_app = typer.Typer(no_args_is_help=True, help="Messages to running contracts.")
outbox_app = typer.Typer(no_args_is_help=True, help="Side effects (the outbox).")
analytics_app = typer.Typer(no_args_is_help=True, help="Processing times and the pilot's evidence.")
anchors_app = typer.Typer(
    no_args_is_help=True, help="Time-stamped anchors of the contracts' hash chains."
)
app.add_typer(db_app, name="db")
app.add_typer(definitions_app, name="definitions")
app.add_typer(contracts_app, name="contracts")
app.add_typer(tasks_app, name="tasks")
app.add_typer(timers_app, name="timers")
app.add_typer(messages_app, name="messages")
app.add_typer(outbox_app, name="outbox")
app.add_typer(analytics_app, name="analytics")
app.add_typer(payments_app, name="payments")
app.add_typer(registry_app, name="registry")
app.add_typer(contacts_app, name="contacts")
app.add_typer(anchors_app, name="anchors")
app.add_typer(employers_app, name="employers")


@contextmanager
def _transaction(aqd: Aqd) -> Iterator[Session]:
    with aqd.session() as session, session.begin():
        yield session


def _read_json(path: Path) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror}") from None
    if len(text) > 1_000_000:
        raise Refused(f"{path} is larger than 1 MB")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None


@app.callback()
def _main() -> None:
    settings = get_settings()
    logs.configure_process(settings, service=False)
    if settings.memory_limit_mb:
        limit = settings.memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# -- db --------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema (Alembic)."""
    guard(lambda: upgrade(get_settings().database_url, revision))
    typer.echo("database is up to date")


# -- definitions -----------------------------------------------------------------------------


@app.command("deploy")
def deploy_cmd(
    path: Path,
    note: Annotated[str, typer.Option(help="Why this version (kept with it).")] = "",
    check: Annotated[bool, typer.Option("--check", help="Validate only; store nothing.")] = False,
    applies_from: Annotated[
        str | None,
        typer.Option(
            help="First request date its rules apply to (default: today); a past or future "
            "date is an explicit choice."
        ),
    ] = None,
    actor: str = "cli",
) -> None:
    """Deploy a programme folder (key = folder name) or a single .bpmn file (key = process id)."""
    aqd = open_engine()
    start = guard(lambda: _day(applies_from, "--applies-from")) if applies_from else None
    if check:
        bundle = guard(lambda: check_folder(path, aqd.sandbox))
        typer.echo(f"{bundle.programme}: valid ({len(bundle.processes)} processes)")
        return

    def run() -> tuple[str, int, bool, date]:
        with _transaction(aqd) as session:
            result = deploy(
                session, path, aqd.sandbox, aqd.clock, actor=actor, note=note, applies_from=start
            )
            d = result.definition
            return d.programme, d.version, result.created, d.applies_from

    programme, version, created, applies = guard(run)
    state = "deployed" if created else "unchanged, already deployed as"
    typer.echo(f"{programme}: {state} version {version} (applies from {applies.isoformat()})")


@definitions_app.command("list")
def definitions_list(programme: str | None = None) -> None:
    """List deployed definition versions."""
    aqd = open_engine()

    def run() -> None:
        with aqd.session() as session:
            for d in list_definitions(session, programme):
                typer.echo(
                    f"{d.id}\t{d.programme}\tv{d.version}\t{d.content_hash[:12]}\t{d.status}\t"
                    f"{d.deployed_at:%Y-%m-%d %H:%M}\tapplies from {d.applies_from}\t"
                    f"{d.deployed_by}\t{d.note}"
                )

    guard(run)


# -- contracts -------------------------------------------------------------------------------


@contracts_app.command("start")
def contracts_start(
    programme: str,
    data: Annotated[Path, typer.Option(help="JSON file with the request data ('-' = stdin).")],
    actor: str = "cli",
) -> None:
    """Start a contract of PROGRAMME; prints the new contract id."""
    aqd = open_engine()

    def run() -> int:
        payload = _read_json(data)
        with _transaction(aqd) as session:
            return aqd.start_contract(session, programme, payload, actor=actor).id

    typer.echo(guard(run))


@contracts_app.command("list")
def contracts_list(
    programme: str | None = None,
    status: str | None = None,
    office: str | None = None,
    ids: Annotated[bool, typer.Option("--ids", help="Print ids only.")] = False,
    limit: int = 1000,
) -> None:
    """List contracts, filtered by programme, status and office code."""
    aqd = open_engine()

    def run() -> None:
        with aqd.session() as session:
            for c in queries.list_contracts(session, programme, status, office, limit):
                if ids:
                    typer.echo(c.id)
                else:
                    typer.echo(f"{c.id}\t{c.number}\t{c.programme}\t{c.status}\trev {c.revision}")

    guard(run)


@contracts_app.command("show")
def contracts_show(contract: str) -> None:
    """Show a contract (id or number) with its process instances."""
    aqd = open_engine()

    def run() -> dict[str, Any]:
        with aqd.session() as session:
            return queries.contract_summary(session, queries.find_contract(session, contract))

    print_json(guard(run))


@contracts_app.command("events")
def contracts_events(contract: str) -> None:
    """Print a contract's event log."""
    aqd = open_engine()

    def run() -> list[dict[str, Any]]:
        with aqd.session() as session:
            c = queries.find_contract(session, contract)
            return [
                {
                    "seq": e.seq,
                    "kind": e.kind,
                    "actor": e.actor,
                    "at": e.at.isoformat(),
                    "payload": e.payload,
                    "hash": e.hash,
                }
                for e in queries.contract_events(session, c.id)
            ]

    print_json(guard(run))


# -- migrations of running contracts (engine/commands/version_migration.py) ------------


@contracts_app.command("migrate")
def contracts_migrate(
    programme: str,
    to_version: Annotated[
        int | None, typer.Option(help="Target version (default: the newest).")
    ] = None,
    from_version: Annotated[
        list[int] | None, typer.Option(help="Only contracts on this version (repeatable).")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="Only contracts in this status (repeatable).")
    ] = None,
    number: Annotated[
        list[str] | None, typer.Option(help="Only this contract number (repeatable).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many contracts.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report per contract; change nothing.")
    ] = False,
    note: Annotated[str, typer.Option(help="Why (required to migrate).")] = "",
    user: Annotated[str, typer.Option(help="Who migrates (recorded).")] = "cli",
) -> None:
    """Move running contracts to a new version: --dry-run says, per contract, whether it can
    (and which new steps lie ahead of it) or why not; without it, each contract is migrated in
    its own transaction and audited event, and the batch is printed."""
    aqd = open_engine()
    selection = Selection(
        programme=programme,
        to_version=to_version,
        from_versions=list(from_version or []),
        statuses=list(status or []),
        numbers=list(number or []),
        limit=limit,
    )
    if dry_run:
        print_json(guard(lambda: aqd.migration_dry_run(selection).to_dict()))
        return
    result = guard(lambda: aqd.migrate_contracts(selection, user, note).to_dict())
    print_json(result)


@contracts_app.command("migrations")
def contracts_migrations(
    batch: Annotated[int | None, typer.Argument(help="Show this batch, per contract.")] = None,
    programme: str | None = None,
) -> None:
    """List migration batches (who, when, why, counts), or show one."""
    aqd = open_engine()

    def run() -> Any:
        with aqd.session() as session:
            if batch is not None:
                return migration.batch_detail(session, batch)
            return migration.list_batches(session, programme)

    print_json(guard(run))


@contracts_app.command("rollback-migration")
def contracts_rollback_migration(
    batch: int,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    user: Annotated[str, typer.Option(help="Who rolls back (recorded).")] = "cli",
) -> None:
    """Put a batch's contracts back on their old version; a contract whose migrated workflow
    has moved since (a step completed, a message or timer delivered) is listed with why not."""
    aqd = open_engine()
    result = guard(lambda: aqd.rollback_migration(batch, user, reason).to_dict())
    print_json(result)
    if result["refused"]:
        raise typer.Exit(1)


# -- tasks -----------------------------------------------------------------------------------


@tasks_app.command("list")
def tasks_list(
    contract: str | None = None,
    office: str | None = None,
    lane: str | None = None,
    status: str = "ready",
    assignee: str | None = None,
    limit: int = 1000,
) -> None:
    """List human tasks (ready by default): guid, contract, task, lane, due."""
    aqd = open_engine()

    def run() -> None:
        with aqd.session() as session:
            contract_id = queries.find_contract(session, contract).id if contract else None
            for t in queries.list_tasks(
                session, contract_id, office, lane, status, assignee, limit
            ):
                due = t.due_at.isoformat() if t.due_at else "-"
                typer.echo(
                    f"{t.task_guid}\t{t.contract_id}\t{t.bpmn_id}\t{t.lane}\t{t.status}\t"
                    f"{t.assignee or '-'}\t{due}"
                )

    guard(run)


@tasks_app.command("claim")
def tasks_claim(
    task: str,
    user: Annotated[str, typer.Option(help="Who claims it.")],
    release: Annotated[bool, typer.Option("--release", help="Give it back.")] = False,
) -> None:
    """Claim (or release) a task."""
    aqd = open_engine()

    def run() -> None:
        with _transaction(aqd) as session:
            aqd.claim_task(session, task, user, release=release)

    guard(run)
    typer.echo("released" if release else "claimed")


@tasks_app.command("escalate")
def tasks_escalate() -> None:
    """Tell who must act about every task past its due date (once per task)."""
    result = guard(lambda: escalate_overdue(open_engine()))
    typer.echo(f"{result.tasks} overdue tasks escalated, {result.notices} notices queued")


@tasks_app.command("complete")
def tasks_complete(
    task: str,
    data: Annotated[Path, typer.Option(help="JSON file with the form data ('-' = stdin).")],
    user: Annotated[str, typer.Option(help="Who completes it.")] = "cli",
    revision: Annotated[
        int | None, typer.Option(help="Fail if the contract changed since this revision.")
    ] = None,
) -> None:
    """Complete a task with form data."""
    aqd = open_engine()

    def run() -> int:
        payload = _read_json(data)
        with _transaction(aqd) as session:
            now = aqd.clock.now()
            referenced = documents.task_references(session, task, payload, now)
            event = aqd.complete_task(session, task, payload, user, expected_revision=revision)
            documents.record_completion(session, task, referenced, now)
            return event.seq

    seq = guard(run)
    typer.echo(f"completed (event {seq})")


# -- messages and timers ---------------------------------------------------------------------


@messages_app.command("send")
def messages_send(
    contract: str,
    name: str,
    data: Annotated[Path | None, typer.Option(help="JSON payload file ('-' = stdin).")] = None,
    actor: str = "cli",
) -> None:
    """Correlate message NAME to a waiting contract."""
    aqd = open_engine()

    def run() -> int:
        payload = _read_json(data) if data else {}
        with _transaction(aqd) as session:
            c = queries.find_contract(session, contract)
            return aqd.correlate_message(session, c.id, name, payload, actor=actor).seq

    seq = guard(run)
    typer.echo(f"delivered (event {seq})")


@outbox_app.command("run")
def outbox_run(limit: int = 50) -> None:
    """Run due side effects in this process (reap expired leases, claim, execute, record)."""
    aqd = open_engine()
    run = guard(lambda: outbox.run_once(aqd, limit))
    typer.echo(
        f"claimed {run.claimed}: done {run.done}, retried {run.retried}, failed {run.failed}, "
        f"awaiting {run.awaiting}, duplicates {run.duplicates}"
    )
    for error in run.errors:
        typer.echo(f"error: {error}", err=True)


@outbox_app.command("list")
def outbox_list(status: str | None = None, limit: int = 100) -> None:
    """List side effects (kind, key, status, attempts, last error)."""

    aqd = open_engine()

    def run() -> None:
        with aqd.session() as session:
            stmt = select(Outbox).order_by(Outbox.id).limit(limit)
            if status:
                stmt = stmt.where(Outbox.status == status)
            for row in session.scalars(stmt):
                typer.echo(
                    f"{row.id}\t{row.kind}\t{row.idempotency_key}\t{row.status}\t"
                    f"{row.attempts}\t{row.last_error or '-'}"
                )

    guard(run)


@outbox_app.command("incidents")
def outbox_incidents(limit: int = 100) -> None:
    """Side effects that failed for good (contract, kind, key, attempts, why)."""

    aqd = open_engine()

    def run() -> None:
        with aqd.session() as session:
            rows = session.execute(
                select(Outbox, Contract.number)
                .join(Contract, Contract.id == Outbox.contract_id, isouter=True)
                .where(Outbox.status == "failed")
                .order_by(Outbox.id)
                .limit(limit)
            )
            for row, number in rows:
                why = row.last_error or (row.result or {}).get("error") or "-"
                typer.echo(
                    f"{number or '-'}\t{row.kind}\t{row.idempotency_key}\t{row.attempts}\t{why}"
                )

    guard(run)


def _resolve(key: str, action: str, reason: str, actor: str) -> None:
    aqd = open_engine()

    def run() -> int:
        with _transaction(aqd) as session:
            return aqd.resolve_incident(session, key, action, actor, reason).seq

    seq = guard(run)
    typer.echo(f"{action}: {key} (event {seq})")


@outbox_app.command("retry")
def outbox_retry(
    key: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the contract's events).")],
    actor: str = "admin",
) -> None:
    """Run a failed side effect again from scratch (an incident's retry)."""
    _resolve(key, "retry", reason, actor)


@outbox_app.command("skip")
def outbox_skip(
    key: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the contract's events).")],
    actor: str = "admin",
) -> None:
    """Close a failed side effect for good without running it (an incident's skip)."""
    _resolve(key, "skip", reason, actor)


@timers_app.command("run")
def timers_run(
    limit: Annotated[int, typer.Option(help="Contracts per page.")] = 500,
) -> None:
    """Fire every timer due now, page by page (the worker runs this periodically)."""
    aqd = open_engine()
    result = guard(lambda: run_due_timers(aqd, limit))
    typer.echo(f"fired {result.fired}, nothing due {result.idle}, failed {len(result.failed)}")
    for contract_id, message in result.failed:
        typer.echo(f"error: contract {contract_id}: {message}", err=True)
    if result.failed:
        raise typer.Exit(1)


# -- replay --------------------------------------------------------------------------------


@app.command("verify-contracts")
def verify_contracts_cmd(
    programme: str | None = None,
    status: str | None = None,
    office: str | None = None,
    sample: Annotated[
        int | None, typer.Option(help="Verify a random sample of this many contracts.")
    ] = None,
    seed: int = 0,
    processes: Annotated[
        int, typer.Option(help="Worker processes (replay is CPU-bound: one per core).")
    ] = 1,
    signatures: Annotated[
        bool,
        typer.Option(
            "--signatures",
            help="Also validate the signatures of every signed document (reads its bytes).",
        ),
    ] = False,
) -> None:
    """Replay many contracts (all, or a sample) and report every one that fails."""

    aqd = open_engine()

    def run() -> dict[str, Any]:
        with aqd.session() as session:
            ids = [
                c.id
                for c in queries.list_contracts(session, programme, status, office, limit=10**9)
            ]
        if sample is not None and sample < len(ids):
            ids = sorted(random.Random(seed).sample(ids, sample))  # noqa: S311 - not security

        def progress(done: int, total: int) -> None:
            if done % 100 == 0 or done == total:
                typer.echo(f"verified {done}/{total}", err=True)

        if processes > 1:
            return verify_contracts_parallel(aqd, ids, processes, signatures=signatures).to_dict()
        return verify_contracts(aqd, ids, progress, signatures=signatures).to_dict()

    report = guard(run)
    print_json(report)
    if report["failed"]:
        raise typer.Exit(1)


@app.command("export-package")
def export_package_cmd(contract: str, path: Path) -> None:
    """Write a contract's audit package (history, manifest) to PATH; prints its SHA-256."""
    aqd = open_engine()

    def run() -> str:
        with aqd.session() as session:
            c = queries.find_contract(session, contract)
            return export_package(session, c.id, path, aqd.clock.now())

    digest = guard(run)
    typer.echo(f"{path}: sha256 {digest}")


@app.command("verify-package")
def verify_package_cmd(path: Path) -> None:
    """Verify an audit package offline: canonical bytes, manifest hashes, hash chain, replay."""

    def run() -> dict[str, Any]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise Refused(f"cannot read {path}: {exc.strerror}") from None
        return verify_package(data, open_engine()).to_dict()

    report = guard(run)
    if report["ok"]:
        typer.echo(f"{report['contract']}: OK, {report['events']} events verified offline")
        if report["signatures_validated"]:
            typer.echo(f"signatures: {report['signatures_validated']} signed versions valid")
        anchored = report["anchored"]
        if anchored:
            typer.echo(
                f"anchored: events 1-{anchored['seq']} existed at {anchored['anchored_at']} "
                f"(anchor {anchored['anchor']}, time-stamped by {anchored['tsa']})"
            )
        else:
            typer.echo("not anchored: its history is checked for consistency only")
        return
    fail(f"{report['contract'] or path}: FAILED: {report['problems'][0]}")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(f"{option} {text!r} is not a date like 2025-10-01") from None


@app.command("decide")
def decide_cmd(
    programme: str,
    decision: str,
    data: Annotated[Path, typer.Option(help="JSON file with the case ('-' = stdin).")],
    on: Annotated[
        str | None, typer.Option(help="Use the version and parameters in force on this date.")
    ] = None,
) -> None:
    """Evaluate one decision table of a deployed programme on one case; prints JSON."""

    aqd = open_engine()

    def run() -> dict[str, Any]:
        when = None
        if on:
            day = _day(on, "--on")
            when = datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC)
        case = _read_json(data)
        with aqd.session() as session:
            return evaluate_decision(
                session, programme, decision, case, aqd.sandbox, aqd.clock, on=when
            )

    print_json(guard(run))


@app.command("replay")
def replay_cmd(contract: str) -> None:
    """Re-execute a contract's events and verify every state hash and the hash chain."""
    aqd = open_engine()

    def run() -> dict[str, Any]:
        with aqd.session() as session:
            c = queries.find_contract(session, contract)
            return replay_contract(aqd, session, c.id).to_dict()

    report = guard(run)
    if report["ok"]:
        typer.echo(f"{report['number']}: OK, {report['events']} events replayed, all hashes match")
        return
    first = report["first_divergent_seq"]
    where = f" (first divergent event: {first})" if first else ""
    fail(f"{report['number']}: FAILED{where}: {report['problems'][0]}")


@analytics_app.command("steps")
def analytics_steps(
    programme: Annotated[str | None, typer.Option(help="Programme key.")] = None,
    office: Annotated[str | None, typer.Option(help="Office code.")] = None,
    month: Annotated[str | None, typer.Option(help="One month, YYYY-MM.")] = None,
    exact: Annotated[bool, typer.Option(help="Read every task, not the rollup.")] = False,
) -> None:
    """Per step: counts, median/p90 hours, waiting vs working, SLA breaches (JSON)."""
    aqd = open_engine()

    def run() -> Any:
        scope = _analytics_scope(programme, office, month)
        with aqd.session() as s:
            return analytics.step_report(s, scope, exact=exact)

    print_json(guard(run))


def _analytics_scope(programme: str | None, office: str | None, month: str | None) -> Any:
    if month:
        return analytics.month_scope(month, programme, office)
    return analytics.Scope(programme=programme, office=office)


@analytics_app.command("lead-times")
def analytics_lead_times(
    programme: Annotated[str | None, typer.Option(help="Programme key.")] = None,
    office: Annotated[str | None, typer.Option(help="Office code.")] = None,
    month: Annotated[str | None, typer.Option(help="One month, YYYY-MM.")] = None,
    by_month: Annotated[bool, typer.Option(help="One row per month reached.")] = False,
    exact: Annotated[bool, typer.Option(help="Read every contract, not the rollup.")] = False,
    csv: Annotated[bool, typer.Option(help="CSV instead of JSON.")] = False,
) -> None:
    """Days from request to signed contract and to first payment: count, median, p90, mean."""
    aqd = open_engine()

    def run() -> Any:
        scope = _analytics_scope(programme, office, month)
        with aqd.session() as s:
            return analytics.lead_time_report(s, scope, exact=exact, by_month=by_month)

    rows = guard(run)
    if csv:
        typer.echo(analytics.lead_times_csv(rows), nl=False)
    else:
        print_json(rows)


@analytics_app.command("refresh")
def analytics_refresh() -> None:
    """Add the tasks completed and the milestones reached since the last refresh to the
    rollups (run it periodically)."""
    aqd = open_engine()

    def run() -> Any:
        with _transaction(aqd) as s:
            return analytics.refresh_rollup(s, aqd.clock.now())

    print_json(guard(run))


@analytics_app.command("import-baseline")
def analytics_import_baseline(
    path: Annotated[Path, typer.Argument(help="CSV: office,programme,step,date,hours")],
) -> None:
    """Load pre-digital durations; re-importing the same file replaces it."""
    aqd = open_engine()

    def run() -> int:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise Refused(f"cannot read {path}: {exc.strerror}") from None
        with _transaction(aqd) as s:
            source = analytics.source_name(path.name, text)
            return analytics.import_baseline(s, text, source, aqd.clock.now())

    typer.echo(f"imported {guard(run)} baseline cases from {path}")


@analytics_app.command("evidence")
def analytics_evidence(
    programme: Annotated[str, typer.Argument(help="Programme key.")],
    step: Annotated[str | None, typer.Option(help="One step (default: all pooled).")] = None,
) -> None:
    """Reduction per step vs the baseline, and the difference in differences (JSON)."""
    aqd = open_engine()

    def run() -> Any:
        with aqd.session() as s:
            return analytics.evidence(s, programme, step)

    print_json(guard(run))


@app.command("worker")
def worker_cmd(concurrency: int = 2) -> None:
    """Run a Celery worker (production: broker from AQD_BROKER_URL)."""
    from engine.worker.celery_app import make_celery  # noqa: PLC0415 (Celery loads for the worker and scheduler only)

    logs.configure_process(get_settings(), service=True)
    celery = make_celery(engine_root())
    celery.worker_main(["worker", "--loglevel=INFO", f"--concurrency={concurrency}"])


@app.command("scheduler")
def scheduler_cmd() -> None:
    """Run Celery beat: enqueues the periodic due-timer poll."""
    from engine.worker.celery_app import make_celery  # noqa: PLC0415 (Celery loads for the worker and scheduler only)

    logs.configure_process(get_settings(), service=True)
    celery = make_celery(engine_root())
    var_dir = get_settings().var_dir
    var_dir.mkdir(parents=True, exist_ok=True)  # a fresh volume or working directory
    celery.start(["beat", "--loglevel=INFO", "--schedule", str(var_dir / "beat")])


def main() -> None:
    """``python -m engine.cli``: the engine's own plug-ins (no signing; ``aqd`` has them)."""
    run(app, bootstrap.build)


# -- anchors of the hash chains ----------------------------------------------------------------


@anchors_app.command("create")
def anchors_create() -> None:
    """Anchor the chain heads that moved since the last anchor, time-stamped (the scheduler
    runs this every hour); exit 1 if the time-stamping service did not answer (the next run
    stamps the anchor)."""
    report = guard(lambda: create_anchor(open_engine()))
    print_json(report)
    if report["error"]:
        raise typer.Exit(1)


@anchors_app.command("verify")
def anchors_verify() -> None:
    """Rebuild every anchor's root from its leaves and check its time-stamp token (each
    contract's replay checks its own anchored heads); exit 1 if one fails."""
    report = guard(lambda: verify_anchors(open_engine()).to_dict())
    print_json(report)
    if report["failed"]:
        raise typer.Exit(1)


@anchors_app.command("list")
def anchors_list(limit: int = 20) -> None:
    """The latest anchors: time, contracts anchored, root, TSA."""
    aqd = open_engine()

    def run() -> list[dict[str, Any]]:
        with aqd.session() as session:
            return list_anchors(session, limit)

    print_json(guard(run))


if __name__ == "__main__":
    main()
