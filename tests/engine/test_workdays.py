"""Deadlines in working days: weekends, fixed and dated public holidays, Tunis time; the deploy
check of ``dueInWorkingDays``; a task of a deployed programme due on the right day."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.definitions.deploy import deploy
from engine.models import HumanTask
from engine.runtime.workdays import DEFAULT_FILE, WorkingCalendar, calendar
from tests.conftest import AGREEMENT, ROOT, World
from tests.helpers.bpmn import SIMPLE, model, problems


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("ready", "days", "due"),
    [
        # Friday evening + 3 working days: Mon, Tue, Wed -> midnight Tunis (UTC+1) ending Wed.
        ("2025-03-07T17:00", 3, "2025-03-12T23:00"),
        # Monday + 1: due at the end of Tuesday.
        ("2025-03-03T08:00", 1, "2025-03-04T23:00"),
        # Wednesday 19 March + 1: Thursday 20 March is Independence Day -> Friday 21.
        ("2025-03-19T09:00", 1, "2025-03-21T23:00"),
        # Friday 28 March 2025 + 1: the weekend, then Eid al-Fitr (Sunday 30, Monday 31).
        ("2025-03-28T09:00", 1, "2025-04-01T23:00"),
        # 23:30 UTC on Sunday is already Monday 00:30 in Tunis: + 1 -> Tuesday.
        ("2025-03-09T23:30", 1, "2025-03-11T23:00"),
        # Friday 2 May 2025 + 5: 5-9 May (Labour Day was the day before).
        ("2025-05-02T10:00", 5, "2025-05-09T23:00"),
        # 10 working days across the New Year of 2026.
        ("2025-12-24T10:00", 10, "2026-01-08T23:00"),
    ],
)
def test_due_after_working_days(ready: str, days: int, due: str) -> None:
    assert calendar().due_after(utc(ready), days) == utc(due)


def test_limits_and_a_custom_calendar(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1 to 90"):
        calendar().due_after(utc("2025-03-03T08:00"), 0)
    path = tmp_path / "h.json"
    doc = json.loads(DEFAULT_FILE.read_text(encoding="utf-8"))
    doc["weekend"] = [4, 5]  # Friday and Saturday
    doc["dated"] = {"2025-03-11": "a holiday announced this year"}
    path.write_text(json.dumps(doc), encoding="utf-8")
    custom = WorkingCalendar.from_file(path)
    # Thursday + 2: Friday and Saturday off -> Sunday 9, Monday 10; + 3: Tuesday 11 is off -> 12.
    assert custom.due_after(utc("2025-03-06T10:00"), 2) == utc("2025-03-10T23:00")
    assert custom.due_after(utc("2025-03-06T10:00"), 3) == utc("2025-03-12T23:00")


def test_deploy_refuses_bad_working_days() -> None:
    def task(props: str) -> str:
        body = SIMPLE.replace(
            '<bpmn:scriptTask id="script">',
            f'<bpmn:userTask id="script"><bpmn:extensionElements><spiffworkflow:properties>'
            f"{props}</spiffworkflow:properties></bpmn:extensionElements>",
        ).replace("<bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>", "</bpmn:userTask>")
        return model(body)

    found = problems(
        {"s.bpmn": task('<spiffworkflow:property name="dueInWorkingDays" value="3j"/>')}
    )
    assert any(
        "dueInWorkingDays '3j' is not a whole number" in p and "[script]" in p for p in found
    )
    both = (
        '<spiffworkflow:property name="dueIn" value="P3D"/>'
        '<spiffworkflow:property name="dueInWorkingDays" value="3"/>'
    )
    assert any("not both" in p for p in problems({"s.bpmn": task(both)}))


def test_a_deployed_task_is_due_in_working_days(world: World, tmp_path: Path) -> None:
    folder = tmp_path / "civp"
    shutil.copytree(ROOT / "processes" / "civp", folder)
    bpmn = folder / "civp.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    old = (
        '<spiffworkflow:property name="formKey" value="counsellor_validation"/>\n'
        '            <spiffworkflow:property name="dueIn" value="P3D"/>'
    )
    assert old in text
    bpmn.write_text(
        text.replace(
            old,
            '<spiffworkflow:property name="formKey" value="counsellor_validation"/>\n'
            '            <spiffworkflow:property name="dueInWorkingDays" value="3"/>',
        ),
        encoding="utf-8",
    )
    with world.aqd.session() as s, s.begin():
        deploy(s, folder, world.aqd.sandbox, world.clock)
    cid = world.start()
    world.clock.set(utc("2025-03-07T17:00"))  # a Friday evening
    world.complete(cid, "employer_agreement", AGREEMENT, "employer")
    with world.aqd.session() as s:
        task = s.scalar(
            select(HumanTask).where(
                HumanTask.contract_id == cid, HumanTask.bpmn_id == "counsellor_validation"
            )
        )
    assert task is not None and task.due_at == utc("2025-03-12T23:00")
