"""The write side of a command: lock, load, and persist what the command changed.

A command on PostgreSQL costs a handful of round trips: lock the contract, read its running
instances (state only on a cache miss), then **one** statement that writes everything (data-
modifying CTEs: instance states, inbox projection, step timings, outbox, the chained event and
the contract row), then commit. SQLite runs the same writes as separate statements (it has no
round trips to save). Only the rows a command changed are written (DESIGN.md invariant 8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from psycopg.types.json import Json, Jsonb
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.models import Contract, Event, HumanTask, Outbox, ProcessInstance, StepTiming


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


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


@dataclass
class WritePlan:
    """Everything one command writes, as plain column values."""

    instance_updates: list[dict[str, Any]] = field(default_factory=list)
    task_inserts: list[dict[str, Any]] = field(default_factory=list)
    task_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_update: tuple[int, dict[str, Any]] | None = None
    event: dict[str, Any] = field(default_factory=dict)
    contract: dict[str, Any] = field(default_factory=dict)


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


class Store:
    """Database access of the command path, for one session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"

    # -- reads ------------------------------------------------------------------------------------

    def lock(self, contract_id: int) -> Locked:
        stmt = select(*_LOCK_COLUMNS).where(Contract.id == contract_id)
        if self.pg:
            stmt = stmt.with_for_update()
        row = self.session.execute(stmt).one_or_none()
        if row is None:
            raise NotFound(f"contract {contract_id} not found")
        return Locked(*row)  # type: ignore[call-arg]

    def running(self, contract_id: int) -> list[Any]:
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

    def insert_instances(self, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        result = self.session.execute(
            insert(ProcessInstance).returning(ProcessInstance.id, sort_by_parameter_order=True),
            rows,
        )
        return [r[0] for r in result.all()]

    def write(self, plan: WritePlan) -> None:
        if self.pg:
            self._write_pg(plan)
        else:
            self._write_each(plan)

    def _write_each(self, plan: WritePlan) -> None:
        s = self.session
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
            s.execute(insert(HumanTask), plan.task_inserts)
        if plan.steps:
            s.execute(insert(StepTiming), plan.steps)
        for row in plan.outbox:
            s.execute(sqlite.insert(Outbox).values(**row).on_conflict_do_nothing())
        if plan.outbox_update is not None:
            outbox_id, values = plan.outbox_update
            s.execute(
                update(Outbox)
                .where(Outbox.id == outbox_id)
                .values(attempts=Outbox.attempts + 1, **values)
            )
        s.execute(insert(Event).values(**plan.event))
        contract_id = plan.contract["id"]
        changes = {k: v for k, v in plan.contract.items() if k != "id"}
        s.execute(update(Contract).where(Contract.id == contract_id).values(**changes))

    def _write_pg(self, plan: WritePlan) -> None:
        parts: list[str] = []
        params: list[Any] = []

        def cte(sql: str, *values: Any) -> None:
            parts.append(f"w{len(parts)} AS ({sql})")
            params.extend(values)

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
        if plan.task_inserts:
            columns = list(plan.task_inserts[0])
            rows = ", ".join(
                ["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(plan.task_inserts)
            )
            cte(
                f"INSERT INTO human_task ({', '.join(columns)}) VALUES {rows}",
                *[r[c] for r in plan.task_inserts for c in columns],
            )
        if plan.steps:
            columns = list(plan.steps[0])
            rows = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(plan.steps))
            cte(
                f"INSERT INTO step_timing ({', '.join(columns)}) VALUES {rows}",
                *[r[c] for r in plan.steps for c in columns],
            )
        for row in plan.outbox:
            columns = list(row)
            bound = [Jsonb(row[c], dumps=_dumps) if c == "payload" else row[c] for c in columns]
            cte(
                f"INSERT INTO outbox ({', '.join(columns)}) VALUES "
                f"({', '.join(['%s'] * len(columns))}) ON CONFLICT (idempotency_key) DO NOTHING",
                *bound,
            )
        if plan.outbox_update is not None:
            outbox_id, changes = plan.outbox_update
            sets = ", ".join(f"{column} = %s" for column in changes)
            bound = [Jsonb(v, dumps=_dumps) if k == "result" else v for k, v in changes.items()]
            cte(
                f"UPDATE outbox SET attempts = attempts + 1, {sets} WHERE id = %s",
                *bound,
                outbox_id,
            )
        event = plan.event
        columns = list(event)
        cte(
            f"INSERT INTO event ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
            *[Json(event[c], dumps=_dumps) if c == "payload" else event[c] for c in columns],
        )
        changes = {k: v for k, v in plan.contract.items() if k != "id"}
        sets = ", ".join(f"{column} = %s" for column in changes)
        cte(f"UPDATE contract SET {sets} WHERE id = %s", *changes.values(), plan.contract["id"])
        sql = "WITH " + ",\n".join(parts) + "\nSELECT 1"
        driver = self.session.connection().connection.driver_connection
        assert driver is not None
        driver.execute(sql, params)
