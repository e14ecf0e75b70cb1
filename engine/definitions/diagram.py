"""What the auditor's diagram shows: one process of the contract's pinned definition, the
state of each of its elements at a chosen event (replayed), and the hours each human step took.

The BPMN source is sent as deployed, with the requested process moved first, because the
browser-side layouter (bpmn-auto-layout) draws the first process of a file that has no diagram
information.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import replay
from engine.commands.aqd import Aqd
from engine.errors import IntegrityError, NotFound
from engine.models import Contract, HumanTask, ProcessDefinition, ProcessInstance

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def process_xml(sources: dict[str, str], process_id: str) -> str:
    """The file defining ``process_id``, with that process first among the file's processes."""
    for text in sources.values():
        if f'id="{process_id}"' not in text:
            continue
        root = etree.fromstring(text.encode(), _PARSER)
        processes = root.findall(f"{{{BPMN_NS}}}process")
        chosen = next((p for p in processes if p.get("id") == process_id), None)
        if chosen is None:
            continue
        if processes and processes[0] is not chosen:
            processes[0].addprevious(chosen)
        return str(etree.tostring(root, encoding="unicode"))
    raise NotFound(f"process {process_id} is not in the contract's definition")


def contract_diagram(
    aqd: Aqd, session: Session, contract: Contract, at: int | None, key: str
) -> dict[str, Any]:
    history = replay.history_of(session, contract.id)
    events = history["events"]
    if not events:
        raise NotFound("the contract has no events yet")
    seq = at if at is not None else int(events[-1]["seq"])
    moment = replay.state_at(history, seq, aqd.runner)
    instance = moment["instances"].get(key)
    if instance is None:
        raise NotFound(f"instance {key} does not exist at event {seq}")
    definition = session.get(ProcessDefinition, contract.definition_id)
    if definition is None:
        raise IntegrityError(f"the definition of contract {contract.number} is missing")
    when = datetime.fromisoformat(moment["at"])
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    instance_id = session.scalar(
        select(ProcessInstance.id).where(
            ProcessInstance.contract_id == contract.id, ProcessInstance.key == key
        )
    )
    hours: dict[str, float] = {}
    if instance_id is not None:
        done = session.execute(
            select(HumanTask.bpmn_id, HumanTask.ready_at, HumanTask.completed_at)
            .where(HumanTask.instance_id == instance_id, HumanTask.completed_at.is_not(None))
            .order_by(HumanTask.completed_at)
        )
        for bpmn_id, ready_at, completed_at in done:
            if completed_at is not None and completed_at <= when:
                hours[bpmn_id] = round((completed_at - ready_at).total_seconds() / 3600, 2)
    return {
        "contract": contract.number,
        "seq": seq,
        "instance": key,
        "process": instance["process"],
        "instances": sorted(moment["instances"]),
        "xml": process_xml(dict(definition.sources), str(instance["process"])),
        "states": instance["elements"],
        "hours": hours,
    }
