"""Structured logs of a served request: the request line and the command it ran share the
request id, and the command line names its contract, duration and outcome."""

from __future__ import annotations

import io
import json

from sqlalchemy import select

from engine.models import Contract, HumanTask, Office
from engine.outbox import runner as outbox
from tests.web.conftest import Web


def parsed(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_request_and_its_command_log_one_json_line_each(web: Web, log_lines: io.StringIO) -> None:
    with web.aqd.session() as s:
        number, guid = s.execute(
            select(Contract.number, HumanTask.task_guid)
            .join(HumanTask, HumanTask.contract_id == Contract.id)
            .join(Office, Office.id == Contract.office_id)
            .where(Office.code == "TUN", HumanTask.status == "ready")
            .where(HumanTask.lane == "counsellor")
        ).one()
    c = web.client()
    headers = {**web.token("head.tun"), "X-Request-ID": "log-probe-1"}
    done = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=headers,
        json={"data": {"validation_decision": "validate"}},
    )
    assert done.status_code == 200, done.text
    lines = [line for line in parsed(log_lines) if line.get("request_id") == "log-probe-1"]
    commands = [line for line in lines if line["event"] == "command"]
    assert len(commands) == 1, lines
    assert commands[0]["contract"] == number
    assert commands[0]["outcome"] == "ok" and isinstance(commands[0]["ms"], float)
    assert commands[0]["actor"] == "head.tun"
    [request] = [line for line in lines if line["event"] == "request"]
    assert (request["status"], request["method"]) == (200, "POST")

    log_lines.truncate(0)
    log_lines.seek(0)
    outbox.run_once(web.aqd)  # the side effects the validation queued (the contract document)
    effects = [line for line in parsed(log_lines) if line.get("key")]
    assert effects, parsed(log_lines)
    assert all(isinstance(line["ms"], float) and line["outcome"] for line in effects)
