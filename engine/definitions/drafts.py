"""The programme manager's modeller (issue 7): drafts checked with the deploy rules, a diff
against the deployed version, and deployment of a draft as a new version with a change note.

A draft replaces one file of the programme's newest version; every check runs on the whole
programme (the other files as deployed), exactly as ``aqd deploy`` would.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.access.accounts import Principal
from engine.commands.aqd import Aqd
from engine.definitions.deploy import store_bundle
from engine.errors import DefinitionInvalid, InvalidInput, NotFound, NotPermitted
from engine.models import DefinitionDraft, ProcessDefinition
from engine.runtime.definitions import compile_bundle

EDITORS = frozenset({"programme_manager", "admin"})
MAX_FILE_BYTES = 2_000_000
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_DI_NAMESPACES = (
    "http://www.omg.org/spec/BPMN/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DC",
    "https://www.omg.org/spec/DMN/20191111/DMNDI/",  # a decision table's DRD layout (dmn-js)
    "http://www.omg.org/spec/DMN/20180521/DMNDI/",
    "http://www.omg.org/spec/DMN/20180521/DC/",
    "http://www.omg.org/spec/DMN/20180521/DI/",
)


def require_editor(principal: Principal) -> None:
    if not principal.roles & EDITORS:
        raise NotPermitted("the modeller is for programme managers and admins")


def newest(session: Session, programme: str) -> ProcessDefinition:
    definition = session.scalar(
        select(ProcessDefinition)
        .where(ProcessDefinition.programme == programme)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    )
    if definition is None:
        raise NotFound(f"programme {programme} has no deployed version")
    return definition


def main_file(definition: ProcessDefinition) -> str:
    for name, text in sorted(definition.sources.items()):
        if name.endswith(".bpmn") and f'id="{definition.main_process}"' in text:
            return name
    raise NotFound(f"no file defines {definition.main_process}")


def source(session: Session, programme: str, file: str | None) -> dict[str, Any]:
    """The file to edit: the saved draft if there is one, else the deployed text."""
    definition = newest(session, programme)
    name = file or main_file(definition)
    # every file a draft can be saved for can be read back (the modeller lists the diagrams)
    if name not in definition.sources or not name.endswith((".bpmn", ".dmn", ".json")):
        raise NotFound(f"{programme} has no file {name}")
    draft = session.scalar(
        select(DefinitionDraft).where(
            DefinitionDraft.programme == programme, DefinitionDraft.file == name
        )
    )
    return {
        "programme": programme,
        "file": name,
        "version": definition.version,
        "files": sorted(n for n in definition.sources if n.endswith((".bpmn", ".dmn"))),
        "xml": draft.xml if draft else definition.sources[name],
        "draft": draft is not None,
        "problems": draft.problems if draft else [],
        "saved_by": draft.saved_by if draft else None,
        "saved_at": draft.saved_at.isoformat() if draft else None,
    }


def _check(aqd: Aqd, definition: ProcessDefinition, file: str, xml: str) -> list[dict[str, Any]]:
    sources = {**definition.sources, file: xml}
    try:
        compile_bundle(definition.programme, sources, aqd.sandbox)
    except DefinitionInvalid as exc:
        return [
            {"file": p.file, "element": p.element, "line": p.line, "message": p.message}
            for p in exc.problems
        ]
    return []


def save_draft(
    aqd: Aqd, principal: Principal, programme: str, file: str, xml: str
) -> dict[str, Any]:
    """Check and keep a draft; problems are returned (and stored), the draft is kept anyway so
    nothing typed is lost."""
    require_editor(principal)
    if len(xml.encode()) > MAX_FILE_BYTES:
        raise InvalidInput("the file is larger than 2 MB", fields={"xml": "too large"})
    with aqd.session() as session, session.begin():
        definition = newest(session, programme)
        if file not in definition.sources:
            raise NotFound(f"{programme} has no file {file}")
        problems = _check(aqd, definition, file, xml)
        draft = session.scalar(
            select(DefinitionDraft)
            .where(DefinitionDraft.programme == programme, DefinitionDraft.file == file)
            .with_for_update()
        )
        if draft is None:
            draft = DefinitionDraft(programme=programme, file=file)
            session.add(draft)
        draft.xml = xml
        draft.base_definition_id = definition.id
        draft.problems = problems
        draft.saved_by = principal.username
        draft.saved_at = aqd.clock.now()
        return {"saved": True, "problems": problems, "version": definition.version}


_DERIVED = frozenset({"incoming", "outgoing"})  # restated from the sequence flows
# BPMN attribute defaults (editors drop them when saving) and tool stamps: not changes.
_IGNORED_ATTRS = {
    "cancelActivity": "true",
    "isInterrupting": "true",
    "isForCompensation": "false",
    "startQuantity": "1",
    "completionQuantity": "1",
    "gatewayDirection": "Unspecified",
    "instantiate": "false",
    "parallelMultiple": "false",
    "triggeredByEvent": "false",
    "isImmediate": "true",
    "exporter": None,
    "exporterVersion": None,
}


def _canonical(node: Any) -> str:
    """An element's meaning without layout, namespace prefixes, attribute order, whitespace,
    the ``incoming``/``outgoing`` children (derived from the flows) and children that have an
    id of their own (compared separately)."""
    kept = {
        k: v
        for k, v in node.attrib.items()
        if not (k in _IGNORED_ATTRS and _IGNORED_ATTRS[k] in (None, v))
    }
    attrs = ",".join(f"{k}={v}" for k, v in sorted(kept.items()))
    parts = [etree.QName(node).localname, attrs, " ".join((node.text or "").split())]
    for child in node:
        if not isinstance(child.tag, str) or child.get("id"):
            continue
        if etree.QName(child).localname in _DERIVED:
            continue
        parts.append("(" + _canonical(child) + ")")
    return "|".join(parts)


def _elements(xml: str) -> dict[str, str]:
    """Model elements by id, in canonical form (diagram layout left out)."""
    root = etree.fromstring(xml.encode(), _PARSER)
    out: dict[str, str] = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or not node.get("id"):
            continue
        if etree.QName(node).namespace in _DI_NAMESPACES or node is root:
            continue
        out[str(node.get("id"))] = _canonical(node)
    return out


def diff(session: Session, programme: str, file: str) -> dict[str, Any]:
    """Elements added, changed and removed by the draft, against the deployed file."""
    definition = newest(session, programme)
    draft = session.scalar(
        select(DefinitionDraft).where(
            DefinitionDraft.programme == programme, DefinitionDraft.file == file
        )
    )
    if draft is None:
        raise NotFound(f"no draft of {file}")
    before = _elements(definition.sources[file])
    try:
        after = _elements(draft.xml)
    except etree.XMLSyntaxError as exc:  # a draft is kept even when it is not well-formed
        raise InvalidInput(
            f"the draft is not well-formed XML (line {exc.lineno}): fix it before comparing",
            fields={"xml": str(exc.msg)},
        ) from None
    return {
        "file": file,
        "version": definition.version,
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": sorted(k for k in after.keys() & before.keys() if after[k] != before[k]),
    }


def deploy_drafts(aqd: Aqd, principal: Principal, programme: str, note: str) -> dict[str, Any]:
    """Deploy every draft of the programme as its next version (one transaction)."""
    require_editor(principal)
    if len(note.strip()) < 5:
        raise InvalidInput("say what changed and why", fields={"note": "at least 5 characters"})
    with aqd.session() as session, session.begin():
        definition = newest(session, programme)
        drafts = session.scalars(
            select(DefinitionDraft).where(DefinitionDraft.programme == programme)
        ).all()
        if not drafts:
            raise InvalidInput("there is no draft to deploy", fields={"draft": "none"})
        stale = [d.file for d in drafts if d.base_definition_id != definition.id]
        if stale:
            raise InvalidInput(
                "a newer version was deployed since these drafts were saved; save them again",
                fields=dict.fromkeys(stale, "based on an older version"),
            )
        sources = {**definition.sources, **{d.file: d.xml for d in drafts}}
        bundle = compile_bundle(programme, sources, aqd.sandbox)
        deployed = store_bundle(session, bundle, aqd.clock, principal.username, note.strip()[:2000])
        session.execute(delete(DefinitionDraft).where(DefinitionDraft.programme == programme))
        return {
            "version": deployed.definition.version,
            "created": deployed.created,
            "content_hash": deployed.definition.content_hash,
        }


def versions(session: Session, programme: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ProcessDefinition)
        .where(ProcessDefinition.programme == programme)
        .order_by(ProcessDefinition.version.desc())
    ).all()
    if not rows:
        raise NotFound(f"programme {programme} has no deployed version")
    return [
        {
            "version": d.version,
            "content_hash": d.content_hash,
            "deployed_by": d.deployed_by,
            "deployed_at": d.deployed_at.isoformat(),
            "applies_from": d.applies_from.isoformat(),
            "note": d.note,
        }
        for d in rows
    ]


def programmes(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(ProcessDefinition.programme)
            .group_by(ProcessDefinition.programme)
            .order_by(ProcessDefinition.programme)
        )
    )
