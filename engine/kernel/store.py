# size: every write of a command (one statement per table, PostgreSQL and SQLite forms).
"""The write side of a command: lock, load, and persist what the command changed.

A command on PostgreSQL costs a handful of round trips: lock the contract, read its running
instances (state only on a cache miss), then **one** statement that writes everything (data-
modifying CTEs: instance states, inbox projection, step timings, outbox, the chained event and
the contract row), then commit. SQLite runs the same writes as separate statements (it has no
round trips to save). Only the rows a command changed are written (DESIGN.md invariant 8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from psycopg.rows import namedtuple_row
from psycopg.types.json import Json, Jsonb
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.models import Contract, Event, HumanTask, Outbox, ProcessInstance, StepTiming


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _dumps_rows(value: Any) -> str:
    """Row sets for ``jsonb_to_recordset``: datetimes as ISO text with their offset."""
    return orjson.dumps(value, option=orjson.OPT_NAIVE_UTC).decode()


@dataclass
class Locked:
    """The contract row as the command locked it."""

    id: int
    number: str
    programme: str
    definition_id: int
    office_id: int | None
    revision: int
    last_seq: int
    chain_head: str
    instance_count: int
    status: str


@dataclass(frozen=True)
class NewInstance:
    """Stands for the id of a process instance inserted by the same write."""

    key: str


@dataclass
class WritePlan:
    """Everything one command writes, as plain column values."""

    instance_inserts: list[dict[str, Any]] = field(default_factory=list)
    instance_updates: list[dict[str, Any]] = field(default_factory=list)
    task_inserts: list[dict[str, Any]] = field(default_factory=list)
    task_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_update: tuple[int, dict[str, Any]] | None = None
    event: dict[str, Any] = field(default_factory=dict)
    contract: dict[str, Any] = field(default_factory=dict)
    cache_puts: list[tuple[Any, int, Any]] = field(default_factory=list)
    instance_after: dict[str, tuple[bool, list[str], Any]] = field(default_factory=dict)


_LOCK_COLUMNS = (
    Contract.id,
    Contract.number,
    Contract.programme,
    Contract.definition_id,
    Contract.office_id,
    Contract.revision,
    Contract.last_seq,
    Contract.chain_head,
    Contract.instance_count,
    Contract.status,
)


_PG_LOCK = (
    "SELECT id, number, programme, definition_id, office_id, revision, last_seq, chain_head, "
    "instance_count, status FROM contract WHERE id = %s FOR UPDATE"
)
_PG_LOCK_DUE = (
    "SELECT id, number, programme, definition_id, office_id, revision, last_seq, chain_head, "
    "instance_count, status FROM contract WHERE id = %s AND next_due_at <= %s "
    "FOR UPDATE SKIP LOCKED"
)
_CONTRACT_COLUMNS = (
    "c.id, c.number, c.programme, c.definition_id, c.office_id, c.revision, c.last_seq, "
    "c.chain_head, c.instance_count, c.status"
)
# The contract is found by a scalar subquery, not a join: every row is then fetched by its
# unique index whatever the statistics say. As a join, PostgreSQL chose merge joins over whole
# primary-key indexes when human_task's statistics predated a month end's new tasks (3 ms at
# 6,000 contracts, growing with the table; autovacuum cannot keep up with a month end).
_PG_LOCK_TASK = (
    f"SELECT {_CONTRACT_COLUMNS}, t.programme AS task_programme, t.form_key, t.status "
    "AS task_status, t.bpmn_id, t.claimed_at, t.assignee, "
    "(SELECT i.key FROM process_instance i WHERE i.id = t.instance_id) AS instance_key "
    "FROM contract c, human_task t "
    "WHERE c.id = (SELECT contract_id FROM human_task WHERE task_guid = %(key)s) "
    "AND t.task_guid = %(key)s FOR UPDATE OF c, t"
)
_PG_LOCK_OUTBOX = (
    f"SELECT {_CONTRACT_COLUMNS}, o.id AS outbox_id, o.status AS outbox_status, o.payload "
    "FROM contract c, outbox o "
    "WHERE c.id = (SELECT contract_id FROM outbox WHERE idempotency_key = %(key)s) "
    "AND o.idempotency_key = %(key)s FOR UPDATE OF c, o"
)
_PG_RUNNING = (
    "SELECT id, key, process_id, waiting_messages, next_due_at, revision FROM process_instance "
    "WHERE contract_id = %s AND status = 'running'"
)


_INSTANCE_COLUMNS = (
    "contract_id",
    "process_id",
    "key",
    "revision",
    "started_at",
    "state",
    "state_hash",
    "serializer_version",
    "status",
    "waiting_messages",
    "next_due_at",
    "ended_at",
)
_INSTANCE_INSERT = ", ".join(_INSTANCE_COLUMNS)
#: Columns and SQL types of the row sets inserted through ``jsonb_to_recordset``.
_RECORDSETS = {
    "human_task": (
        (
            "contract_id",
            "instance_id",
            "task_guid",
            "bpmn_id",
            "name",
            "programme",
            "lane",
            "candidate_group",
            "office_id",
            "form_key",
            "status",
            "due_at",
            "ready_at",
        ),
        "contract_id bigint, instance_id bigint, task_guid text, bpmn_id text, name text, "
        "programme text, lane text, candidate_group text, office_id bigint, form_key text, "
        "status text, due_at timestamptz, ready_at timestamptz",
    ),
    "step_timing": (
        (
            "contract_id",
            "instance_id",
            "event_seq",
            "task_guid",
            "bpmn_id",
            "spec_type",
            "started_at",
            "duration_us",
        ),
        "contract_id bigint, instance_id bigint, event_seq int, task_guid text, bpmn_id text, "
        "spec_type text, started_at timestamptz, duration_us int",
    ),
    "outbox": (
        (
            "contract_id",
            "kind",
            "payload",
            "idempotency_key",
            "status",
            "attempts",
            "available_at",
            "created_at",
        ),
        "contract_id bigint, kind text, payload jsonb, idempotency_key text, status text, "
        "attempts int, available_at timestamptz, created_at timestamptz",
    ),
}

_JSONB = {("process_instance", "waiting_messages"), ("outbox", "payload"), ("outbox", "result")}
_JSON = {("event", "payload")}


def enqueue(
    session: Session,
    *,
    contract_id: int | None,
    kind: str,
    key: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Queue a side effect a service (not the BPMN) decided on, in the caller's transaction; the
    outbox runner executes it after commit like any other (DESIGN.md invariant 2)."""
    session.add(
        Outbox(
            contract_id=contract_id,
            kind=kind,
            payload=payload,
            idempotency_key=key,
            status="pending",
            attempts=0,
            available_at=now,
            created_at=now,
        )
    )
    session.flush()


def _adapt(table: str, column: str, value: Any) -> Any:
    """psycopg adapters for JSON columns: jsonb projections, order-keeping json payloads."""
    if (table, column) in _JSONB:
        return Jsonb(value, dumps=_dumps)
    if (table, column) in _JSON:
        return Json(value, dumps=_dumps)
    return value


class Store:
    """Database access of the command path, for one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"
        self._driver: Any = None

    def _query(self, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> list[Any]:
        """Run a fixed hot-path query straight on psycopg (same connection and transaction)."""
        if self._driver is None:
            self._driver = self.session.connection().connection.driver_connection
        cursor = self._driver.cursor(row_factory=namedtuple_row)
        rows: list[Any] = cursor.execute(sql, params).fetchall()
        return rows

    # -- reads ------------------------------------------------------------------------------------

    def lock(self, contract_id: int) -> Locked:
        if self.pg:
            rows = self._query(_PG_LOCK, (contract_id,))
            row = rows[0] if rows else None
        else:
            row = self.session.execute(
                select(*_LOCK_COLUMNS).where(Contract.id == contract_id)
            ).one_or_none()
        if row is None:
            raise NotFound(f"contract {contract_id} not found")
        return Locked(*row)

    def lock_due(self, contract_id: int, now: datetime) -> Locked | None:
        """Lock the contract if a timer of it is due and no one else holds it; else None.

        For timer pollers: several may run at once (several workers, machines, or a poll that
        outlasts its interval); each skips the contracts another one is firing, and a contract
        another poller has just fired is no longer due here, in one round trip."""
        if self.pg:
            rows = self._query(_PG_LOCK_DUE, (contract_id, now))
            row = rows[0] if rows else None
        else:  # SQLite has one writer at a time: nothing to skip
            row = self.session.execute(
                select(*_LOCK_COLUMNS).where(
                    Contract.id == contract_id, Contract.next_due_at <= now
                )
            ).one_or_none()
        return None if row is None else Locked(*row)

    def lock_task(self, task_guid: str) -> tuple[Locked, Any] | None:
        """Lock the contract of a task, and the task's inbox row; None if no such task."""
        if self.pg:
            rows = self._query(_PG_LOCK_TASK, {"key": task_guid})
            if not rows:
                return None
            row = rows[0]
            return Locked(*row[:10]), row
        task = self.session.execute(
            select(
                HumanTask.contract_id,
                HumanTask.programme.label("task_programme"),
                HumanTask.form_key,
                HumanTask.status.label("task_status"),
                HumanTask.bpmn_id,
                HumanTask.claimed_at,
                HumanTask.assignee,
                ProcessInstance.key.label("instance_key"),
            )
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(HumanTask.task_guid == task_guid)
        ).one_or_none()
        return None if task is None else (self.lock(task.contract_id), task)

    def lock_outbox(self, key: str) -> tuple[Locked, Any] | None:
        """Lock the contract of a side effect, and its outbox row; None if unknown."""
        if self.pg:
            rows = self._query(_PG_LOCK_OUTBOX, {"key": key})
            if not rows:
                return None
            row = rows[0]
            return Locked(*row[:10]), row
        outbox = self.session.execute(
            select(
                Outbox.contract_id,
                Outbox.id.label("outbox_id"),
                Outbox.status.label("outbox_status"),
                Outbox.payload,
            ).where(Outbox.idempotency_key == key, Outbox.contract_id.is_not(None))
        ).one_or_none()
        return None if outbox is None else (self.lock(outbox.contract_id), outbox)

    def running(self, contract_id: int) -> list[Any]:
        if self.pg:
            return self._query(_PG_RUNNING, (contract_id,))
        return list(
            self.session.execute(
                select(
                    ProcessInstance.id,
                    ProcessInstance.key,
                    ProcessInstance.process_id,
                    ProcessInstance.waiting_messages,
                    ProcessInstance.next_due_at,
                    ProcessInstance.revision,
                ).where(
                    ProcessInstance.contract_id == contract_id,
                    ProcessInstance.status == "running",
                )
            ).all()
        )

    def instance_ref(self, contract_id: int, key: str) -> tuple[int, str, int] | None:
        row = self.session.execute(
            select(ProcessInstance.id, ProcessInstance.process_id, ProcessInstance.revision).where(
                ProcessInstance.contract_id == contract_id, ProcessInstance.key == key
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1], row[2])

    def state(self, instance_id: int) -> tuple[bytes, str]:
        row = self.session.execute(
            select(ProcessInstance.state, ProcessInstance.serializer_version).where(
                ProcessInstance.id == instance_id
            )
        ).one()
        return bytes(row[0]), str(row[1])

    # -- writes -----------------------------------------------------------------------------------

    def write(self, plan: WritePlan) -> dict[str, int]:
        """Write the plan; return the ids of the instances it inserted, by key."""
        if self.pg:
            return self._write_pg(plan)
        return self._write_each(plan)

    def _write_each(self, plan: WritePlan) -> dict[str, int]:
        s = self.session
        new_ids: dict[str, int] = {}
        for row in plan.instance_inserts:
            new_ids[row["key"]] = s.execute(
                insert(ProcessInstance).values(**row).returning(ProcessInstance.id)
            ).scalar_one()

        def resolve(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                {k: new_ids[v.key] if isinstance(v, NewInstance) else v for k, v in r.items()}
                for r in rows
            ]

        for values in plan.instance_updates:
            row_id = values["id"]
            changes = {k: v for k, v in values.items() if k != "id"}
            s.execute(
                update(ProcessInstance)
                .where(ProcessInstance.id == row_id)
                .values(revision=ProcessInstance.revision + 1, **changes)
            )
        for guid, values in plan.task_updates:
            s.execute(update(HumanTask).where(HumanTask.task_guid == guid).values(**values))
        if plan.task_inserts:
            s.execute(insert(HumanTask), resolve(plan.task_inserts))
        if plan.steps:
            s.execute(insert(StepTiming), resolve(plan.steps))
        for row in plan.outbox:
            s.execute(sqlite.insert(Outbox).values(**row).on_conflict_do_nothing())
        if plan.outbox_update is not None:
            outbox_id, values = plan.outbox_update
            s.execute(
                update(Outbox).where(Outbox.id == outbox_id).values(lease_until=None, **values)
            )
        s.execute(insert(Event).values(**resolve([plan.event])[0]))
        contract_id = plan.contract["id"]
        changes = {k: v for k, v in plan.contract.items() if k != "id"}
        s.execute(update(Contract).where(Contract.id == contract_id).values(**changes))
        return new_ids

    def _write_pg(self, plan: WritePlan) -> dict[str, int]:
        """One statement of data-modifying CTEs. Row sets travel as one JSON parameter each, so
        the statement text depends only on the command's shape: psycopg caches its parsing and
        PostgreSQL its plan."""
        parts: list[str] = []
        params: list[Any] = []

        def cte(sql: str, *values: Any) -> str:
            name = f"w{len(parts)}"
            parts.append(f"{name} AS ({sql})")
            params.extend(values)
            return name

        new_ids = ""
        new_names = [
            cte(
                f"INSERT INTO process_instance ({_INSTANCE_INSERT}) VALUES "
                f"({', '.join(['%s'] * len(_INSTANCE_COLUMNS))}) RETURNING id, key",
                *[_adapt("process_instance", c, row[c]) for c in _INSTANCE_COLUMNS],
            )
            for row in plan.instance_inserts
        ]
        if new_names:
            new_ids = cte(" UNION ALL ".join(f"SELECT id, key FROM {n}" for n in new_names))
        for v in plan.instance_updates:
            cte(
                "UPDATE process_instance SET revision = revision + 1, state = %s, "
                "state_hash = %s, serializer_version = %s, status = %s, waiting_messages = %s, "
                "next_due_at = %s, ended_at = %s WHERE id = %s",
                v["state"],
                v["state_hash"],
                v["serializer_version"],
                v["status"],
                Jsonb(v["waiting_messages"], dumps=_dumps),
                v["next_due_at"],
                v["ended_at"],
                v["id"],
            )
        for guid, values in plan.task_updates:
            sets = ", ".join(f"{column} = %s" for column in values)
            cte(f"UPDATE human_task SET {sets} WHERE task_guid = %s", *values.values(), guid)

        def recordset(table: str, rows: list[dict[str, Any]], suffix: str = "") -> None:
            columns, types = _RECORDSETS[table]
            resolve = any(isinstance(r.get("instance_id"), NewInstance) for r in rows)
            payload = [
                {
                    **r,
                    "instance_id": None
                    if isinstance(r.get("instance_id"), NewInstance)
                    else r.get("instance_id"),
                    "instance_key": r["instance_id"].key
                    if isinstance(r.get("instance_id"), NewInstance)
                    else None,
                }
                for r in rows
            ]
            select_list = ", ".join(
                "COALESCE(x.instance_id, n.id)" if c == "instance_id" and resolve else f"x.{c}"
                for c in columns
            )
            join = f" LEFT JOIN {new_ids} n ON n.key = x.instance_key" if resolve else ""
            cte(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select_list} "
                f"FROM jsonb_to_recordset(%s) AS x({types}, instance_key text){join}{suffix}",
                Jsonb(payload, dumps=_dumps_rows),
            )

        if plan.task_inserts:
            recordset("human_task", plan.task_inserts)
        if plan.steps:
            recordset("step_timing", plan.steps)
        if plan.outbox:
            recordset("outbox", plan.outbox, " ON CONFLICT (idempotency_key) DO NOTHING")
        if plan.outbox_update is not None:
            outbox_id, changes = plan.outbox_update
            sets = ", ".join(f"{column} = %s" for column in changes)
            bound = [Jsonb(v, dumps=_dumps) if k == "result" else v for k, v in changes.items()]
            cte(
                f"UPDATE outbox SET lease_until = NULL, {sets} WHERE id = %s",
                *bound,
                outbox_id,
            )
        event = plan.event
        event_instance = event["instance_id"]
        if isinstance(event_instance, NewInstance):
            instance_sql = f"(SELECT id FROM {new_ids} WHERE key = %s)"
            instance_param: Any = event_instance.key
        else:
            instance_sql, instance_param = "%s", event_instance
        cte(
            "INSERT INTO event (contract_id, seq, kind, actor, at, instance_id, payload, "
            f"state_hash, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, {instance_sql}, %s, %s, "
            "%s, %s)",
            event["contract_id"],
            event["seq"],
            event["kind"],
            event["actor"],
            event["at"],
            instance_param,
            Json(event["payload"], dumps=_dumps),
            event["state_hash"],
            event["prev_hash"],
            event["hash"],
        )
        changes = {k: v for k, v in plan.contract.items() if k != "id"}
        sets = ", ".join(f"{column} = %s" for column in changes)
        cte(f"UPDATE contract SET {sets} WHERE id = %s", *changes.values(), plan.contract["id"])
        tail = f"SELECT id, key FROM {new_ids}" if new_names else "SELECT 0, ''"
        sql = "WITH " + ",\n".join(parts) + "\n" + tail
        if self._driver is None:
            self._driver = self.session.connection().connection.driver_connection
        rows = self._driver.execute(sql, params).fetchall()
        return {str(key): int(row_id) for row_id, key in rows if key}
