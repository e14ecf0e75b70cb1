"""``aqd``: the command line. Exit 0 on success; 1 with a one-line message on refused input.

The database comes from ``AQD_DATABASE_URL`` (default: SQLite under ./var/). Each command that
changes anything is one transaction, committed here at the boundary.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from engine.clock import clock_from_setting
from engine.config import get_settings
from engine.errors import DefinitionInvalid, EngineError
from engine.payments.cli import app as payments_app
from engine.services import demo as demo_service
from engine.services import queries
from engine.services.commands import Aqd
from engine.services.definitions import check_folder, deploy, list_definitions
from engine.services.replay import replay_contract
from engine.services.timers import run_due_timers

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Aqd workflow engine.")
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
app.add_typer(anchors_app, name="anchors")

T = TypeVar("T")


class Refused(Exception):
    """Input the CLI refuses before it reaches the engine."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _aqd() -> Aqd:
    settings = get_settings()
    return Aqd(settings.database_url, clock=clock_from_setting(settings.clock), settings=settings)


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


def _guard(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except DefinitionInvalid as exc:
        for problem in exc.problems[1:]:
            typer.echo(f"error: {problem}", err=True)
        _fail(str(exc.problems[0]))
    except EngineError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in list(exc.fields.items())[:5])
        _fail(f"{exc.message}" + (f" ({detail})" if detail and exc.code == "invalid_input" else ""))
    except Refused as exc:
        _fail(str(exc))
    except OperationalError as exc:
        _fail(f"database unavailable or not migrated (run 'aqd db upgrade'): {exc.orig}")
    except ProgrammingError as exc:
        # PostgreSQL: a table or column of a migration this database has not run yet
        if getattr(exc.orig, "sqlstate", None) not in ("42P01", "42703"):
            raise
        first_line = str(exc.orig).splitlines()[0]
        _fail(f"database not migrated (run 'aqd db upgrade'): {first_line}")
    raise AssertionError("unreachable")


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@app.callback()
def _main() -> None:
    settings = get_settings()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if settings.memory_limit_mb:
        limit = settings.memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# -- db --------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema (Alembic)."""
    from engine.migrate import upgrade

    _guard(lambda: upgrade(get_settings().database_url, revision))
    typer.echo("database is up to date")


# -- definitions -----------------------------------------------------------------------------


@app.command("deploy")
def deploy_cmd(
    path: Path,
    note: Annotated[str, typer.Option(help="Why this version (kept with it).")] = "",
    check: Annotated[bool, typer.Option("--check", help="Validate only; store nothing.")] = False,
    actor: str = "cli",
) -> None:
    """Deploy a programme folder (key = folder name) or a single .bpmn file (key = process id)."""
    aqd = _aqd()
    if check:
        bundle = _guard(lambda: check_folder(path, aqd.sandbox))
        typer.echo(f"{bundle.programme}: valid ({len(bundle.processes)} processes)")
        return

    def run() -> tuple[str, int, bool]:
        with _transaction(aqd) as session:
            result = deploy(session, path, aqd.sandbox, aqd.clock, actor=actor, note=note)
            d = result.definition
            return d.programme, d.version, result.created

    programme, version, created = _guard(run)
    state = "deployed" if created else "unchanged, already deployed as"
    typer.echo(f"{programme}: {state} version {version}")


@definitions_app.command("list")
def definitions_list(programme: str | None = None) -> None:
    """List deployed definition versions."""
    aqd = _aqd()

    def run() -> None:
        with aqd.session() as session:
            for d in list_definitions(session, programme):
                typer.echo(
                    f"{d.id}\t{d.programme}\tv{d.version}\t{d.content_hash[:12]}\t{d.status}\t"
                    f"{d.deployed_at:%Y-%m-%d %H:%M}\t{d.deployed_by}\t{d.note}"
                )

    _guard(run)


# -- contracts -------------------------------------------------------------------------------


@contracts_app.command("start")
def contracts_start(
    programme: str,
    data: Annotated[Path, typer.Option(help="JSON file with the request data ('-' = stdin).")],
    actor: str = "cli",
) -> None:
    """Start a contract of PROGRAMME; prints the new contract id."""
    aqd = _aqd()

    def run() -> int:
        payload = _read_json(data)
        with _transaction(aqd) as session:
            return aqd.start_contract(session, programme, payload, actor=actor).id

    typer.echo(_guard(run))


@contracts_app.command("list")
def contracts_list(
    programme: str | None = None,
    status: str | None = None,
    office: str | None = None,
    ids: Annotated[bool, typer.Option("--ids", help="Print ids only.")] = False,
    limit: int = 1000,
) -> None:
    """List contracts, filtered by programme, status and office code."""
    aqd = _aqd()

    def run() -> None:
        with aqd.session() as session:
            for c in queries.list_contracts(session, programme, status, office, limit):
                if ids:
                    typer.echo(c.id)
                else:
                    typer.echo(f"{c.id}\t{c.number}\t{c.programme}\t{c.status}\trev {c.revision}")

    _guard(run)


@contracts_app.command("show")
def contracts_show(contract: str) -> None:
    """Show a contract (id or number) with its process instances."""
    aqd = _aqd()

    def run() -> dict[str, Any]:
        with aqd.session() as session:
            return queries.contract_summary(session, queries.find_contract(session, contract))

    _print(_guard(run))


@contracts_app.command("events")
def contracts_events(contract: str) -> None:
    """Print a contract's event log."""
    aqd = _aqd()

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

    _print(_guard(run))


# -- migrations of running contracts (engine/services/migration.py) ---------------------------


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
    from engine.services.migration import Selection

    aqd = _aqd()
    selection = Selection(
        programme=programme,
        to_version=to_version,
        from_versions=list(from_version or []),
        statuses=list(status or []),
        numbers=list(number or []),
        limit=limit,
    )
    if dry_run:
        _print(_guard(lambda: aqd.migration_dry_run(selection).to_dict()))
        return
    result = _guard(lambda: aqd.migrate_contracts(selection, user, note).to_dict())
    _print(result)


@contracts_app.command("migrations")
def contracts_migrations(
    batch: Annotated[int | None, typer.Argument(help="Show this batch, per contract.")] = None,
    programme: str | None = None,
) -> None:
    """List migration batches (who, when, why, counts), or show one."""
    from engine.services import migration

    aqd = _aqd()

    def run() -> Any:
        with aqd.session() as session:
            if batch is not None:
                return migration.batch_detail(session, batch)
            return migration.list_batches(session, programme)

    _print(_guard(run))


@contracts_app.command("rollback-migration")
def contracts_rollback_migration(
    batch: int,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    user: Annotated[str, typer.Option(help="Who rolls back (recorded).")] = "cli",
) -> None:
    """Put a batch's contracts back on their old version; a contract whose migrated workflow
    has moved since (a step completed, a message or timer delivered) is listed with why not."""
    aqd = _aqd()
    result = _guard(lambda: aqd.rollback_migration(batch, user, reason).to_dict())
    _print(result)
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
    aqd = _aqd()

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

    _guard(run)


@tasks_app.command("claim")
def tasks_claim(
    task: str,
    user: Annotated[str, typer.Option(help="Who claims it.")],
    release: Annotated[bool, typer.Option("--release", help="Give it back.")] = False,
) -> None:
    """Claim (or release) a task."""
    aqd = _aqd()

    def run() -> None:
        with _transaction(aqd) as session:
            aqd.claim_task(session, task, user, release=release)

    _guard(run)
    typer.echo("released" if release else "claimed")


@tasks_app.command("escalate")
def tasks_escalate() -> None:
    """Tell who must act about every task past its due date (once per task)."""
    from engine.services.escalations import escalate_overdue

    result = _guard(lambda: escalate_overdue(_aqd()))
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
    aqd = _aqd()

    def run() -> int:
        payload = _read_json(data)
        with _transaction(aqd) as session:
            event = aqd.complete_task(session, task, payload, user, expected_revision=revision)
            return event.seq

    seq = _guard(run)
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
    aqd = _aqd()

    def run() -> int:
        payload = _read_json(data) if data else {}
        with _transaction(aqd) as session:
            c = queries.find_contract(session, contract)
            return aqd.correlate_message(session, c.id, name, payload, actor=actor).seq

    seq = _guard(run)
    typer.echo(f"delivered (event {seq})")


@outbox_app.command("run")
def outbox_run(limit: int = 50) -> None:
    """Run due side effects in this process (reap expired leases, claim, execute, record)."""
    from engine.services import outbox

    aqd = _aqd()
    run = _guard(lambda: outbox.run_once(aqd, limit))
    typer.echo(
        f"claimed {run.claimed}: done {run.done}, retried {run.retried}, failed {run.failed}, "
        f"awaiting {run.awaiting}, duplicates {run.duplicates}"
    )
    for error in run.errors:
        typer.echo(f"error: {error}", err=True)


@outbox_app.command("list")
def outbox_list(status: str | None = None, limit: int = 100) -> None:
    """List side effects (kind, key, status, attempts, last error)."""
    from sqlalchemy import select

    from engine.models import Outbox

    aqd = _aqd()

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

    _guard(run)


@outbox_app.command("incidents")
def outbox_incidents(limit: int = 100) -> None:
    """Side effects that failed for good (contract, kind, key, attempts, why)."""
    from sqlalchemy import select

    from engine.models import Contract, Outbox

    aqd = _aqd()

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

    _guard(run)


def _resolve(key: str, action: str, reason: str, actor: str) -> None:
    aqd = _aqd()

    def run() -> int:
        with _transaction(aqd) as session:
            return aqd.resolve_incident(session, key, action, actor, reason).seq

    seq = _guard(run)
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
    aqd = _aqd()
    result = _guard(lambda: run_due_timers(aqd, limit))
    typer.echo(f"fired {result.fired}, nothing due {result.idle}, failed {len(result.failed)}")
    for contract_id, message in result.failed:
        typer.echo(f"error: contract {contract_id}: {message}", err=True)
    if result.failed:
        raise typer.Exit(1)


# -- replay and demo -------------------------------------------------------------------------


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
    import random

    from engine.services.replay import verify_contracts, verify_contracts_parallel

    aqd = _aqd()

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
            url = aqd.db.url.render_as_string(hide_password=False)
            return verify_contracts_parallel(url, ids, processes, signatures=signatures).to_dict()
        return verify_contracts(aqd, ids, progress, signatures=signatures).to_dict()

    report = _guard(run)
    _print(report)
    if report["failed"]:
        raise typer.Exit(1)


@app.command("export-package")
def export_package_cmd(contract: str, path: Path) -> None:
    """Write a contract's audit package (history, manifest) to PATH; prints its SHA-256."""
    from engine.services.audit import export_package

    aqd = _aqd()

    def run() -> str:
        with aqd.session() as session:
            c = queries.find_contract(session, contract)
            return export_package(session, c.id, path, aqd.clock.now())

    digest = _guard(run)
    typer.echo(f"{path}: sha256 {digest}")


@app.command("verify-package")
def verify_package_cmd(path: Path) -> None:
    """Verify an audit package offline: canonical bytes, manifest hashes, hash chain, replay."""
    from engine.services.audit import verify_package

    def run() -> dict[str, Any]:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise Refused(f"cannot read {path}: {exc.strerror}") from None
        return verify_package(data, _aqd()).to_dict()

    report = _guard(run)
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
    _fail(f"{report['contract'] or path}: FAILED: {report['problems'][0]}")


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
    from datetime import UTC, datetime

    from engine.services.definitions import evaluate_decision

    aqd = _aqd()

    def run() -> dict[str, Any]:
        when = None
        if on:
            try:
                when = datetime.fromisoformat(on).replace(tzinfo=UTC, hour=23, minute=59)
            except ValueError:
                raise Refused(f"--on {on!r} is not a date like 2025-10-01") from None
        case = _read_json(data)
        with aqd.session() as session:
            return evaluate_decision(
                session, programme, decision, case, aqd.sandbox, aqd.clock, on=when
            )

    _print(_guard(run))


@app.command("replay")
def replay_cmd(contract: str) -> None:
    """Re-execute a contract's events and verify every state hash and the hash chain."""
    aqd = _aqd()

    def run() -> dict[str, Any]:
        with aqd.session() as session:
            c = queries.find_contract(session, contract)
            return replay_contract(aqd, session, c.id).to_dict()

    report = _guard(run)
    if report["ok"]:
        typer.echo(f"{report['number']}: OK, {report['events']} events replayed, all hashes match")
        return
    first = report["first_divergent_seq"]
    where = f" (first divergent event: {first})" if first else ""
    _fail(f"{report['number']}: FAILED{where}: {report['problems'][0]}")


@analytics_app.command("steps")
def analytics_steps(
    programme: Annotated[str | None, typer.Option(help="Programme key.")] = None,
    office: Annotated[str | None, typer.Option(help="Office code.")] = None,
    month: Annotated[str | None, typer.Option(help="One month, YYYY-MM.")] = None,
    exact: Annotated[bool, typer.Option(help="Read every task, not the rollup.")] = False,
) -> None:
    """Per step: counts, median/p90 hours, waiting vs working, SLA breaches (JSON)."""
    from engine.services import analytics

    aqd = _aqd()

    def run() -> Any:
        scope = _analytics_scope(programme, office, month)
        with aqd.session() as s:
            return analytics.step_report(s, scope, exact=exact)

    _print(_guard(run))


def _analytics_scope(programme: str | None, office: str | None, month: str | None) -> Any:
    from engine.services import analytics

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
    from engine.services import analytics

    aqd = _aqd()

    def run() -> Any:
        scope = _analytics_scope(programme, office, month)
        with aqd.session() as s:
            return analytics.lead_time_report(s, scope, exact=exact, by_month=by_month)

    rows = _guard(run)
    if csv:
        typer.echo(analytics.lead_times_csv(rows), nl=False)
    else:
        _print(rows)


@analytics_app.command("refresh")
def analytics_refresh() -> None:
    """Add the tasks completed and the milestones reached since the last refresh to the
    rollups (run it periodically)."""
    from engine.services import analytics

    aqd = _aqd()

    def run() -> Any:
        with _transaction(aqd) as s:
            return analytics.refresh_rollup(s, aqd.clock.now())

    _print(_guard(run))


@analytics_app.command("import-baseline")
def analytics_import_baseline(
    path: Annotated[Path, typer.Argument(help="CSV: office,programme,step,date,hours")],
) -> None:
    """Load pre-digital durations; re-importing the same file replaces it."""
    from engine.services import analytics

    aqd = _aqd()

    def run() -> int:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise Refused(f"cannot read {path}: {exc.strerror}") from None
        with _transaction(aqd) as s:
            source = analytics.source_name(path.name, text)
            return analytics.import_baseline(s, text, source, aqd.clock.now())

    typer.echo(f"imported {_guard(run)} baseline cases from {path}")


@analytics_app.command("evidence")
def analytics_evidence(
    programme: Annotated[str, typer.Argument(help="Programme key.")],
    step: Annotated[str | None, typer.Option(help="One step (default: all pooled).")] = None,
) -> None:
    """Reduction per step vs the baseline, and the difference in differences (JSON)."""
    from engine.services import analytics

    aqd = _aqd()

    def run() -> Any:
        with aqd.session() as s:
            return analytics.evidence(s, programme, step)

    _print(_guard(run))


@app.command("demo")
def demo_cmd() -> None:
    """Seed the demo data (6 pilot offices, people, contracts); safe to run twice."""
    aqd = _aqd()

    report = _guard(lambda: demo_service.seed(aqd))
    typer.echo(report.summary())


@app.command("worker")
def worker_cmd(concurrency: int = 2) -> None:
    """Run a Celery worker (production: broker from AQD_BROKER_URL)."""
    from engine.worker.celery_app import app as celery

    celery.worker_main(["worker", "--loglevel=INFO", f"--concurrency={concurrency}"])


@app.command("scheduler")
def scheduler_cmd() -> None:
    """Run Celery beat: enqueues the periodic due-timer poll."""
    from engine.worker.celery_app import app as celery

    var_dir = get_settings().var_dir
    var_dir.mkdir(parents=True, exist_ok=True)  # a fresh volume or working directory
    celery.start(["beat", "--loglevel=INFO", "--schedule", str(var_dir / "beat")])


def main() -> None:
    app()


if __name__ == "__main__":
    main()


# -- anchors of the hash chains ----------------------------------------------------------------


@anchors_app.command("create")
def anchors_create() -> None:
    """Anchor the chain heads that moved since the last anchor, time-stamped (the scheduler
    runs this every hour); exit 1 if the time-stamping service did not answer (the next run
    stamps the anchor)."""
    from engine.services.anchors import create_anchor

    report = _guard(lambda: create_anchor(_aqd()))
    _print(report)
    if report["error"]:
        raise typer.Exit(1)


@anchors_app.command("verify")
def anchors_verify() -> None:
    """Rebuild every anchor's root from its leaves and check its time-stamp token (each
    contract's replay checks its own anchored heads); exit 1 if one fails."""
    from engine.services.anchors import verify_anchors

    report = _guard(lambda: verify_anchors(_aqd()).to_dict())
    _print(report)
    if report["failed"]:
        raise typer.Exit(1)


@anchors_app.command("list")
def anchors_list(limit: int = 20) -> None:
    """The latest anchors: time, contracts anchored, root, TSA."""
    from engine.services.anchors import list_anchors

    aqd = _aqd()

    def run() -> list[dict[str, Any]]:
        with aqd.session() as session:
            return list_anchors(session, limit)

    _print(_guard(run))
