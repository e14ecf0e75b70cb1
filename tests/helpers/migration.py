"""A second CIVP version for the migration tests and benchmark.

Version 2 is the deployed ``processes/civp`` plus two changes a decree could bring:

* a new counsellor step, ``documents_check`` (form ``documents_check``), on the path between
  the counsellor's validation and the signatures: contracts still in the agreement will take it,
  contracts already at the signatures or later will not;
* the monthly attendance step gets a new id, ``attendance_report`` (same form): a month waiting
  for its end will take the new step, but a month whose attendance is ready (or done) cannot
  move, since its ready or completed step would no longer exist.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent.parent
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NEW_STEP = "documents_check"
RENAMED = ("attendance", "attendance_report")


def _q(tag: str, ns: str = BPMN) -> str:
    return f"{{{ns}}}{tag}"


def civp_v2_bpmn(source: str) -> str:
    root = etree.fromstring(source.encode())
    main = next(p for p in root.iter(_q("process")) if p.get("id") == "civp_contract")
    flow = next(
        f for f in main.iter(_q("sequenceFlow")) if f.get("targetRef") == "await_signatures"
    )
    flow.set("targetRef", NEW_STEP)
    task = etree.SubElement(main, _q("userTask"), id=NEW_STEP, name="Check the documents")
    ext = etree.SubElement(task, _q("extensionElements"))
    props = etree.SubElement(ext, _q("properties", SPIFF))
    etree.SubElement(props, _q("property", SPIFF), name="formKey", value=NEW_STEP)
    etree.SubElement(props, _q("property", SPIFF), name="dueIn", value="P3D")
    etree.SubElement(task, _q("incoming")).text = flow.get("id")
    etree.SubElement(task, _q("outgoing")).text = "f_documents_signatures"
    etree.SubElement(
        main,
        _q("sequenceFlow"),
        id="f_documents_signatures",
        sourceRef=NEW_STEP,
        targetRef="await_signatures",
    )
    await_task = next(t for t in main.iter() if t.get("id") == "await_signatures")
    for incoming in await_task.findall(_q("incoming")):
        if incoming.text == flow.get("id"):
            incoming.text = "f_documents_signatures"
    lane = next(ln for ln in main.iter(_q("lane")) if ln.get("name") == "counsellor")
    etree.SubElement(lane, _q("flowNodeRef")).text = NEW_STEP

    old, new = RENAMED
    for element in root.iter():
        if element.get("id") == old:
            element.set("id", new)
        for attr in ("sourceRef", "targetRef", "attachedToRef"):
            if element.get(attr) == old:
                element.set(attr, new)
        if element.tag == _q("flowNodeRef") and (element.text or "").strip() == old:
            element.text = new
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


def civp_v2_folder(target: Path) -> Path:
    """A copy of ``processes/civp`` as version 2, in ``target/civp``."""
    folder = target / "civp"
    shutil.copytree(ROOT / "processes" / "civp", folder)
    path = folder / "civp.bpmn"
    path.write_text(civp_v2_bpmn(path.read_text(encoding="utf-8")), encoding="utf-8")
    return folder
