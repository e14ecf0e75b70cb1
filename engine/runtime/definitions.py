# size: the deploy-time checks of BPMN/DMN sources (allowed extensions, lanes, forms, decisions)
# are one list of rules over one parsed bundle.
"""Parse, check and compile a programme folder into a deployable, immutable bundle.

Everything the engine cannot run safely is refused here, with file, BPMN element id and line:
XML with DTDs or entities, XSD violations, non-executable processes, unknown extension elements or
foreign attributes, expressions that do not compile in the sandbox, user tasks without a known
lane/form, DMN hit policies the engine does not implement, and sequence-flow cycles (gateway
loops deepen SpiffWorkflow's task tree until it silently stalls, DESIGN.md invariant 7: use a
standard-loop subprocess or a separate process instance).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.errors import DefinitionInvalid, DefinitionProblem, SandboxViolation
from engine.runtime.dmn import Parser
from engine.runtime.sandbox import Sandbox
from engine.runtime.serializer import SERIALIZER
from engine.runtime.workdays import MAX_WORKING_DAYS
from forms import registry as form_registry

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DMN_NAMESPACES = {
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
}
#: Namespaces whose attributes may appear on model elements (diagram info, schema plumbing).
ALLOWED_ATTR_NS = {
    "",
    BPMN_NS,
    "http://www.omg.org/spec/BPMN/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DC",
    "http://www.omg.org/spec/DD/20100524/DI",
    "http://www.w3.org/2001/XMLSchema-instance",
    "http://www.w3.org/XML/1998/namespace",  # xml:lang, xml:space: XML itself, not extensions
    "https://www.omg.org/spec/DMN/20191111/DMNDI/",
    "http://www.omg.org/spec/DMN/20180521/DMNDI/",
    "http://www.omg.org/spec/DMN/20180521/DC/",  # DRD shapes' bounds, as dmn-js writes them
    "http://www.omg.org/spec/DMN/20180521/DI/",
    *DMN_NAMESPACES,
}
#: The spiffworkflow extension elements the engine executes or uses as metadata.
ALLOWED_SPIFF_EXTENSIONS = {
    "properties",
    "property",
    "preScript",
    "postScript",
    "calledDecisionId",
    "instructionsForEndUser",
    "messagePayload",
    "messageVariable",
    "payloadExpression",
    "variableName",
}
#: Lanes a user task may sit in; each names the role that works it (DESIGN.md §5).
KNOWN_LANES = {
    "beneficiary",
    "employer",
    "counsellor",
    "office_head",
    "finance",
    "programme_manager",
    "auditor",
    "admin",
}
MAX_FILE_BYTES = 2_000_000
_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


@dataclass
class ProcessInfo:
    """What the engine needs to know about one executable process of a programme."""

    process_id: str
    name: str
    start: str  # "none" or "message"
    start_message: str = ""
    user_tasks: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Bundle:
    """A checked programme version, ready to be stored as a ``process_definition`` row."""

    programme: str
    sources: dict[str, str]
    content_hash: str
    main_process: str
    processes: dict[str, ProcessInfo]
    specs: dict[str, dict[str, Any]]
    parameters: dict[str, Any]
    manifest: dict[str, Any]

    def metadata(self) -> dict[str, Any]:
        return {
            "main_process": self.main_process,
            "processes": {
                pid: {
                    "name": p.name,
                    "start": p.start,
                    "start_message": p.start_message,
                    "user_tasks": p.user_tasks,
                }
                for pid, p in self.processes.items()
            },
            "manifest": self.manifest,
        }


def read_sources(path: Path) -> tuple[str, dict[str, str]]:
    """Read a programme folder (or a single ``.bpmn`` file) into ``{filename: text}``.

    Returns the programme key (folder name, or the file's process id is decided later: we
    return the file stem and let :func:`compile_bundle` key a single file by its process id).
    """
    if not path.exists():
        raise DefinitionInvalid([DefinitionProblem(str(path), "no such file or folder")])
    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.iterdir() if p.suffix in {".bpmn", ".dmn", ".json"})
    )
    sources: dict[str, str] = {}
    for file in files:
        raw = file.read_bytes()
        if len(raw) > MAX_FILE_BYTES:
            raise DefinitionInvalid([DefinitionProblem(file.name, "file larger than 2 MB")])
        try:
            sources[file.name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DefinitionInvalid([DefinitionProblem(file.name, "not UTF-8 text")]) from None
    if not any(name.endswith(".bpmn") for name in sources):
        raise DefinitionInvalid([DefinitionProblem(str(path), "no .bpmn file found")])
    return (path.stem if path.is_file() else path.name), sources


def main_process_id(text: str) -> str:
    """The id of the single executable process of a BPMN file with a plain start, if any."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    if "<!DOCTYPE" in text[:4096].upper():
        return ""
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError:
        return ""
    found = [
        p.get("id", "")
        for p in root.iter(_q(BPMN_NS, "process"))
        if p.get("isExecutable") == "true"
        and not any(
            s.find(_q(BPMN_NS, "messageEventDefinition")) is not None
            for s in p.iter(_q(BPMN_NS, "startEvent"))
        )
    ]
    return found[0] if len(found) == 1 else ""


def content_hash(sources: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    return digest.hexdigest()


class _Checker:
    def __init__(self, programme: str, sandbox: Sandbox) -> None:
        self.programme = programme
        self.sandbox = sandbox
        self.problems: list[DefinitionProblem] = []

    def add(self, file: str, message: str, node: Any = None, element: str = "") -> None:
        line = 0
        if node is not None:
            line = node.sourceline or 0
            element = element or _element_id(node)
        self.problems.append(DefinitionProblem(file, message, element=element, line=line))

    # -- XML safety ---------------------------------------------------------------------------

    def parse_xml(self, file: str, text: str) -> Any:
        upper = text.upper()
        if "<!DOCTYPE" in upper[:4096] or "<!ENTITY" in upper:
            found = [i for i in (upper.find("<!DOCTYPE"), upper.find("<!ENTITY")) if i >= 0]
            line = text.count("\n", 0, min(found)) + 1
            self.problems.append(
                DefinitionProblem(
                    file,
                    "DTDs and entity declarations are not allowed (they can read files or "
                    "expand without bound)",
                    line=line,
                )
            )
            return None
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        try:
            return etree.fromstring(text.encode("utf-8"), parser)
        except etree.XMLSyntaxError as exc:
            line = exc.lineno or 0
            self.problems.append(DefinitionProblem(file, f"XML syntax error: {exc.msg}", line=line))
            return None

    # -- extensions ---------------------------------------------------------------------------

    def check_extensions(self, file: str, root: Any) -> None:
        for node in root.iter():
            if not isinstance(node.tag, str):
                continue
            ns = etree.QName(node).namespace or ""
            local = etree.QName(node).localname
            for attr in node.attrib:
                attr_ns = etree.QName(attr).namespace or ""
                if attr_ns not in ALLOWED_ATTR_NS:
                    self.add(file, f"unknown extension attribute {attr}", node)
            if ns == SPIFF_NS and local not in ALLOWED_SPIFF_EXTENSIONS:
                self.add(file, f"unsupported extension element spiffworkflow:{local}", node)
            elif ns not in ALLOWED_ATTR_NS and ns != SPIFF_NS:
                self.add(file, f"unknown extension element {{{ns}}}{local}", node)

    # -- references ---------------------------------------------------------------------------

    def check_references(self, file: str, root: Any) -> None:
        """References by id must name something: SpiffWorkflow ignores a boundary event attached
        to nothing (its timer would never fire) and fails obscurely on unknown messages."""
        ids = {str(n.get("id")) for n in root.iter() if isinstance(n.tag, str) and n.get("id")}
        messages = set()
        for node in root.iter(_q(BPMN_NS, "message")):
            if node.get("id"):
                messages.add(str(node.get("id")))
            else:
                self.add(file, "message has no id", node)
        for node in root.iter(_q(BPMN_NS, "boundaryEvent")):
            ref = _local_ref(node.get("attachedToRef"))
            if ref and ref not in ids:
                self.add(file, f"boundary event is attached to {ref}, which does not exist", node)
        for node in root.iter(_q(BPMN_NS, "sequenceFlow")):
            for end in ("sourceRef", "targetRef"):
                ref = _local_ref(node.get(end))
                if ref and ref not in ids:
                    self.add(file, f"sequence flow {end} {ref} does not exist", node)
        for node in root.iter(f"{{{BPMN_NS}}}*"):
            ref = _local_ref(node.get("messageRef"))
            if ref and ref not in messages:
                self.add(file, f"message {ref} is not declared (bpmn:message)", node)

    # -- expressions --------------------------------------------------------------------------

    def compile(
        self, file: str, node: Any, text: str | None, mode: Literal["eval", "exec"], what: str
    ) -> None:
        if text is None or not text.strip():
            return
        try:
            self.sandbox.check(text.strip(), mode)
        except SandboxViolation as exc:
            line = (node.sourceline or 0) + max(exc.line - 1, 0)
            self.problems.append(
                DefinitionProblem(
                    file, f"{what}: {exc.message}", element=_element_id(node), line=line
                )
            )

    def check_bpmn_expressions(self, file: str, root: Any) -> None:
        for node in root.iter(_q(BPMN_NS, "conditionExpression")):
            self.compile(file, node, node.text, "eval", "condition does not compile")
        for tag in ("timeDuration", "timeDate", "timeCycle"):
            for node in root.iter(_q(BPMN_NS, tag)):
                self.compile(file, node, node.text, "eval", "timer expression does not compile")
        for tag in ("loopCondition", "completionCondition", "loopCardinality"):
            for node in root.iter(_q(BPMN_NS, tag)):
                self.compile(file, node, node.text, "eval", f"{tag} does not compile")
        for node in root.iter(_q(BPMN_NS, "dataStore"), _q(BPMN_NS, "dataStoreReference")):
            self.add(
                file,
                "data stores are not supported: keep the data in task data or in the "
                "programme's own tables",
                node,
            )
        for node in root.iter(_q(BPMN_NS, "script")):
            self.compile(file, node, node.text, "exec", "script does not compile")
        for tag in ("preScript", "postScript"):
            for node in root.iter(_q(SPIFF_NS, tag)):
                self.compile(file, node, node.text, "exec", f"{tag} does not compile")
        for tag in ("messagePayload", "payloadExpression"):
            for node in root.iter(_q(SPIFF_NS, tag)):
                self.compile(file, node, node.text, "eval", "message payload does not compile")

    def check_dmn(self, file: str, root: Any, ns: str) -> None:
        for table in root.iter(_q(ns, "decisionTable")):
            policy = table.get("hitPolicy", "UNIQUE")
            if policy not in {"UNIQUE", "FIRST", "COLLECT"}:
                self.add(
                    file,
                    f"hit policy {policy} is not supported (use UNIQUE, FIRST or COLLECT)",
                    table,
                )
            inputs: list[str] = []
            for expr in table.iter(_q(ns, "inputExpression")):
                text = expr.find(_q(ns, "text"))
                inputs.append((text.text or "").strip() if text is not None else "")
                if text is not None:
                    self.compile(file, text, text.text, "eval", "input expression does not compile")
            # A FIRST table takes the first match, so a rule whose input entries repeat an earlier
            # rule's can never match; in a UNIQUE table the two overlap: a mistake either way.
            earlier: dict[tuple[str, ...], str] = {}
            for rule in table.iter(_q(ns, "rule")):
                entries = tuple(
                    " ".join(_entry_text(e, ns).split()) for e in rule.iter(_q(ns, "inputEntry"))
                )
                if policy in {"UNIQUE", "FIRST"} and entries in earlier:
                    self.add(
                        file,
                        f"rule never matches: rule {earlier[entries]} above it has the same "
                        f"input entries ({policy} allows one match)",
                        rule,
                    )
                earlier.setdefault(entries, str(rule.get("id", "")))
                for column, entry in enumerate(rule.iter(_q(ns, "inputEntry"))):
                    source = _entry_text(entry, ns)
                    if source and column < len(inputs):
                        self.compile(
                            file,
                            entry,
                            _dmn_match_expression(inputs[column], source),
                            "eval",
                            "DMN input entry does not compile",
                        )
                for entry in rule.iter(_q(ns, "outputEntry")):
                    source = _entry_text(entry, ns)
                    if source:
                        self.compile(
                            file, entry, source, "eval", "DMN output entry does not compile"
                        )

    # -- process structure --------------------------------------------------------------------

    def check_process(
        self, file: str, process: Any, messages: dict[str, str]
    ) -> ProcessInfo | None:
        pid = process.get("id", "")
        if not pid:
            self.add(file, "process has no id", process)
            return None
        nameless = [
            node
            for node in process.iter(f"{{{BPMN_NS}}}*")
            if not node.get("id")
            and etree.QName(node).localname in (*_FLOW_NODES, "sequenceFlow", "lane")
        ]
        for node in nameless:
            self.add(file, f"{etree.QName(node).localname} has no id", node)
        if nameless:
            return None
        if process.get("isExecutable") != "true":
            self.add(file, 'process is not executable (set isExecutable="true")', process)
            return None
        starts = [
            n for n in process if isinstance(n.tag, str) and n.tag == _q(BPMN_NS, "startEvent")
        ]
        kind, message = "none", ""
        for start in starts:
            definition = start.find(_q(BPMN_NS, "messageEventDefinition"))
            if definition is not None:
                kind = "message"
                ref = definition.get("messageRef", "")
                message = messages.get(ref, ref)
        info = ProcessInfo(process_id=pid, name=process.get("name", pid), start=kind)
        info.start_message = message
        self._check_cycles(file, process)
        self._check_reachable(file, process)
        lanes: dict[str, str] = {}
        for lane in process.iter(_q(BPMN_NS, "lane")):
            for ref in lane.iter(_q(BPMN_NS, "flowNodeRef")):
                lanes[(ref.text or "").strip()] = lane.get("name", "")
        for task in process.iter(_q(BPMN_NS, "userTask"), _q(BPMN_NS, "manualTask")):
            tid = task.get("id", "")
            props = {
                p.get("name", ""): p.get("value", "") for p in task.iter(_q(SPIFF_NS, "property"))
            }
            lane = lanes.get(tid, "")
            if lane not in KNOWN_LANES:
                self.add(
                    file,
                    "user task must sit in a lane named after a role "
                    f"({', '.join(sorted(KNOWN_LANES))})",
                    task,
                )
            form_key = props.get("formKey", "")
            if not form_key:
                self.add(file, "user task needs a formKey property", task)
            elif not form_registry.has_form(self.programme, form_key):
                self.add(
                    file, f"form {form_key!r} not found in forms/schemas/{self.programme}/", task
                )
            due = props.get("dueIn", "")
            if due and not _ISO_DURATION.match(due):
                self.add(file, f"dueIn {due!r} is not an ISO 8601 duration like P3D", task)
            working = props.get("dueInWorkingDays", "").strip()
            if working and not (working.isdigit() and 1 <= int(working) <= MAX_WORKING_DAYS):
                self.add(
                    file,
                    f"dueInWorkingDays {working!r} is not a whole number of working days "
                    f"from 1 to {MAX_WORKING_DAYS}",
                    task,
                )
                working = ""
            if working and due:
                self.add(file, "a task is due in dueIn or in dueInWorkingDays, not both", task)
            info.user_tasks[tid] = {
                "name": task.get("name", tid),
                "lane": lane,
                "form_key": form_key,
                "due_in": due,
                "due_working_days": int(working) if working else 0,
                "candidate_group": props.get("candidateGroup", lane),
            }
        return info

    def _check_reachable(self, file: str, container: Any) -> None:
        """Every flow node but start and boundary events needs an incoming sequence flow (in
        the process or sub-process that holds it); otherwise it can never run."""
        incoming = {
            flow.get("targetRef", "")
            for flow in container
            if isinstance(flow.tag, str) and flow.tag == _q(BPMN_NS, "sequenceFlow")
        }
        for node in container:
            if not isinstance(node.tag, str):
                continue
            local = etree.QName(node).localname
            if etree.QName(node).namespace != BPMN_NS or local not in _FLOW_NODES:
                continue
            if local in ("subProcess", "transaction"):
                self._check_reachable(file, node)
                if node.get("triggeredByEvent") == "true":
                    continue
            if local == "task":
                name = node.get("name") or node.get("id", "")
                self.add(
                    file,
                    f"task {name!r} has no type, and an untyped task waits forever for someone "
                    "to finish it: make it a user task (lane and form), a script task, a "
                    "business rule task or a message event",
                    node,
                )
            if local in ("startEvent", "boundaryEvent"):
                continue
            if node.get("id", "") not in incoming:
                name = node.get("name") or node.get("id", "")
                self.add(
                    file,
                    f"{local} {name!r} is not connected: no sequence flow leads to it, so it "
                    "can never run",
                    node,
                )

    def _check_cycles(self, file: str, process: Any) -> None:
        edges: dict[str, list[tuple[str, Any]]] = {}
        for flow in process.iter(_q(BPMN_NS, "sequenceFlow")):
            if flow.getparent() is not process:
                continue
            edges.setdefault(flow.get("sourceRef", ""), []).append(
                (flow.get("targetRef", ""), flow)
            )
        state: dict[str, int] = {}
        # Depth-first search with an explicit stack: a long chain of steps must not exhaust
        # Python's recursion limit (a 1,500-step process crashed the recursive version).
        for first in list(edges):
            if first in state:
                continue
            state[first] = 1
            stack = [(first, iter(edges.get(first, [])))]
            while stack:
                node, todo = stack[-1]
                step = next(todo, None)
                if step is None:
                    state[node] = 2
                    stack.pop()
                    continue
                target, flow = step
                if state.get(target) == 1:
                    self.add(
                        file,
                        f"sequence flow {flow.get('id')} loops back to {target}: gateway loops "
                        "deepen the task tree until the engine stalls; model repetition with a "
                        "standard-loop subprocess or a separate process instance",
                        flow,
                    )
                elif target not in state:
                    state[target] = 1
                    stack.append((target, iter(edges.get(target, []))))


_FLOW_NODES = frozenset(
    {
        "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask",
        "receiveTask", "businessRuleTask", "callActivity", "subProcess", "transaction",
        "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
        "complexGateway", "intermediateCatchEvent", "intermediateThrowEvent", "endEvent",
        "startEvent", "boundaryEvent",
    }
)  # fmt: skip


def _local_ref(ref: str | None) -> str:
    """A reference attribute's id (BPMN writes them as QNames: ``prefix:id`` or ``id``)."""
    return (ref or "").strip().rsplit(":", 1)[-1]


def _element_id(node: Any) -> str:
    while node is not None:
        if isinstance(node.tag, str) and node.get("id"):
            return str(node.get("id"))
        node = node.getparent()
    return ""


def _entry_text(entry: Any, ns: str) -> str:
    text = entry.find(_q(ns, "text"))
    value = (text.text or "").strip() if text is not None else ""
    return "" if value == "-" else value


def _dmn_match_expression(input_expr: str, entry: str) -> str:
    """Rewrite a DMN cell exactly as SpiffWorkflow 3.2's DMNEngine does before evaluating it."""
    rewritten = re.sub(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)", "dmninputexpr", entry)
    if "dmninputexpr" in rewritten:
        return rewritten
    try:
        ast.parse(entry, mode="exec")
        return f"({input_expr}) == ({entry})"
    except SyntaxError:
        return input_expr + entry


#: what a parameter's period must say (``engine.kernel.planning.resolve_parameters`` reads them)
CONFIDENCES = frozenset({"H", "M", "L"})


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if len(value) == 10 and 1900 <= day.year <= 2100 else None


def parameter_problems(file: str, loaded: Any) -> list[DefinitionProblem]:
    """What is wrong with a ``parameters.json``: ``{"parameters": {name: [period, ...]}}``,
    each period with a ``value``, ``valid_from`` and ``valid_to`` (ISO days or null, in order,
    the periods of one parameter not overlapping), a ``legal_basis`` and a ``confidence``
    (H, M or L). An empty or malformed file would leave every decision reading a parameter with
    nothing, found only when a contract runs."""
    if not isinstance(loaded, dict) or not isinstance(loaded.get("parameters"), dict):
        return [DefinitionProblem(file, 'expected an object {"parameters": {name: [periods]}}')]
    problems: list[DefinitionProblem] = []
    if not loaded["parameters"]:
        problems.append(DefinitionProblem(file, "no parameter is defined"))
    for name, periods in loaded["parameters"].items():
        if not isinstance(periods, list) or not periods:
            problems.append(DefinitionProblem(file, "expected a list of periods", element=name))
            continue
        spans: list[tuple[date, date]] = []
        for index, period in enumerate(periods, start=1):
            where = f"{name}[{index}]"
            if not isinstance(period, dict):
                problems.append(DefinitionProblem(file, "a period is an object", element=where))
                continue
            if "value" not in period:
                problems.append(DefinitionProblem(file, "the period has no value", element=where))
            start, end = period.get("valid_from"), period.get("valid_to")
            first, last = _day(start), _day(end)
            for key, raw, day in (("valid_from", start, first), ("valid_to", end, last)):
                if raw is not None and day is None:
                    problems.append(
                        DefinitionProblem(
                            file, f"{key}: not a day between 1900 and 2100", element=where
                        )
                    )
            first, last = first or date(1900, 1, 1), last or date(2100, 12, 31)
            if last < first:
                problems.append(
                    DefinitionProblem(file, "valid_to is before valid_from", element=where)
                )
            elif any(
                first <= other_end and other_start <= last for other_start, other_end in spans
            ):
                problems.append(
                    DefinitionProblem(
                        file, "overlaps another period of this parameter", element=where
                    )
                )
            spans.append((first, last))
            basis = period.get("legal_basis")
            if not isinstance(basis, str) or not basis.strip():
                problems.append(
                    DefinitionProblem(file, "the period has no legal_basis", element=where)
                )
            if period.get("confidence") not in CONFIDENCES:
                problems.append(
                    DefinitionProblem(file, "confidence must be H, M or L", element=where)
                )
    return problems


def compile_bundle(programme: str, sources: dict[str, str], sandbox: Sandbox) -> Bundle:
    """Check every file and return the deployable bundle, or raise DefinitionInvalid."""
    checker = _Checker(programme, sandbox)
    spiff = Parser(validator=BpmnValidator())
    processes: dict[str, ProcessInfo] = {}
    manifest: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    trees: dict[str, Any] = {}
    for name, text in sources.items():
        if name.endswith(".json"):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as exc:
                checker.problems.append(
                    DefinitionProblem(name, f"invalid JSON: {exc.msg}", line=exc.lineno)
                )
                continue
            if name == "programme.json":
                manifest = loaded
            elif name == "parameters.json":
                checker.problems.extend(parameter_problems(name, loaded))
                parameters = loaded
            continue
        root = checker.parse_xml(name, text)
        if root is None:
            continue
        trees[name] = root
        checker.check_extensions(name, root)
        ns = etree.QName(root).namespace or ""
        if name.endswith(".dmn"):
            if ns not in DMN_NAMESPACES:
                checker.add(name, f"unknown DMN namespace {ns}", root)
                continue
            checker.check_dmn(name, root, ns)
        else:
            checker.check_bpmn_expressions(name, root)
            checker.check_references(name, root)
            messages = {
                m.get("id", ""): m.get("name", m.get("id", ""))
                for m in root.iter(_q(BPMN_NS, "message"))
            }
            for process in root.iter(_q(BPMN_NS, "process")):
                info = checker.check_process(name, process, messages)
                if info is not None:
                    processes[info.process_id] = info
    if checker.problems:
        raise DefinitionInvalid(checker.problems)

    for name, root in trees.items():
        try:
            if name.endswith(".dmn"):
                spiff.add_dmn_xml(root, filename=name)
            else:
                spiff.add_bpmn_xml(root, filename=name)
        except ValidationException as exc:
            _raise_spiff(name, exc, root)

    if not processes:
        raise DefinitionInvalid([DefinitionProblem(programme, "no executable process")])
    main = str(manifest.get("main_process", ""))
    if not main:
        candidates = [p.process_id for p in processes.values() if p.start == "none"]
        if len(candidates) != 1:
            raise DefinitionInvalid(
                [
                    DefinitionProblem(
                        "programme.json",
                        "cannot tell the main process: name it as main_process "
                        f"(processes with a plain start event: {', '.join(candidates) or 'none'})",
                    )
                ]
            )
        main = candidates[0]
    if main not in processes:
        raise DefinitionInvalid(
            [DefinitionProblem("programme.json", f"unknown main_process {main}")]
        )

    specs: dict[str, dict[str, Any]] = {}
    for pid in processes:
        try:
            spec = spiff.get_spec(pid)
            subprocess_specs = spiff.get_subprocess_specs(pid)
        except ValidationException as exc:
            file = exc.file_name or next(iter(trees))
            _raise_spiff(file, exc, trees.get(file))
        except SpiffWorkflowException as exc:
            raise DefinitionInvalid([DefinitionProblem(programme, str(exc), element=pid)]) from None
        specs[pid] = {
            "spec": SERIALIZER.registry.convert(spec),
            "subprocess_specs": {
                k: SERIALIZER.registry.convert(v) for k, v in subprocess_specs.items()
            },
        }
    return Bundle(
        programme=programme,
        sources=sources,
        content_hash=content_hash(sources),
        main_process=main,
        processes=processes,
        specs=specs,
        parameters=parameters,
        manifest=manifest,
    )


def _raise_spiff(file: str, exc: ValidationException, root: Any) -> None:
    element = getattr(exc, "id", "") or ""
    line = exc.line_number if isinstance(exc.line_number, int) else 0
    if not line and element and root is not None:
        found = root.xpath("//*[@id=$id]", id=element)
        if found:
            line = found[0].sourceline or 0
    if not element and line and root is not None:
        # XSD errors carry a line, not an id: name the element written on that line.
        at_line = [n for n in root.iter() if isinstance(n.tag, str) and n.sourceline == line]
        if at_line:
            element = _element_id(at_line[0])
    message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    raise DefinitionInvalid(
        [DefinitionProblem(file, message, element=element, line=line)]
    ) from None
