"""The import corpus against the deploy checks: every file written by another tool either deploys
or is refused with messages that name the element (and line) at fault; nothing crashes. The same
holds once a file is stripped of its vendor extensions and made executable, round after round of
deleting what was refused, which drives the files deep into SpiffWorkflow's parser."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from engine.definitions.deploy import check_folder
from engine.errors import DefinitionInvalid
from engine.runtime.definitions import ALLOWED_ATTR_NS, Bundle, compile_bundle, read_sources
from engine.runtime.sandbox import Sandbox
from tests.conftest import ROOT
from tests.modeller.corpus_files import BPMN, CORPUS, CORPUS_DIR

SANDBOX = Sandbox()
LICENCES = ("MIT", "Apache-2.0", "CC BY 3.0")
REPOSITORY_LICENCE = {
    "bpmn-io/bpmn-js-examples": "MIT",
    "bpmn-io/bpmn-moddle": "MIT",
    "camunda/camunda-bpm-examples": "Apache-2.0",
    "bpmn-miwg/bpmn-miwg-test-suite": "CC BY 3.0",
}


def _problems_are_located(exc: DefinitionInvalid) -> list[str]:
    """Problems that name neither an element nor a line (only the programme-level choice of the
    main process may)."""
    return [
        str(p)
        for p in exc.problems
        if not p.element and not p.line and "main process" not in p.message
    ]


def test_sources_list_every_file_with_its_commit_and_licence() -> None:
    text = (CORPUS_DIR / "SOURCES.md").read_text(encoding="utf-8")
    row = r"^\| `([^`]+\.bpmn)` \| (\S+) \| `[^`]+` \| `([0-9a-f]{40})` \|$"
    rows = re.findall(row, text, re.M)
    assert sorted(name for name, _, _ in rows) == sorted(p.name for p in CORPUS)
    assert len(CORPUS) >= 15
    for _, repo, _ in rows:
        assert REPOSITORY_LICENCE[repo] in LICENCES and REPOSITORY_LICENCE[repo] in text
    permissive = [r for r in rows if REPOSITORY_LICENCE[r[1]] in ("MIT", "Apache-2.0")]
    assert len(permissive) >= 15  # the corpus stands without the CC BY files too


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_each_file_deploys_or_is_refused_element_by_element(path: Path) -> None:
    unlocated: list[str] = []
    try:
        bundle = check_folder(path, SANDBOX)  # what ``aqd deploy FILE`` runs
    except DefinitionInvalid as exc:
        unlocated = _problems_are_located(exc)
        # xml:lang (ARIS, Signavio) is XML itself, not a vendor extension
        unlocated += [str(p) for p in exc.problems if "XML/1998/namespace" in p.message]
    else:
        assert isinstance(bundle, Bundle)
    assert unlocated == []


def _drop(node: etree._Element) -> None:
    parent = node.getparent()
    assert parent is not None, "the root is never dropped"
    parent.remove(node)


def _strip(text: str) -> etree._Element:
    """What a programme manager does first with a foreign file: drop the vendor extensions,
    mark the processes executable, write conditions and timers in Python, make tasks scripts."""
    root = etree.fromstring(text.encode())
    for node in list(root.iter()):
        if not isinstance(node.tag, str):
            continue
        if (etree.QName(node).namespace or "") not in ALLOWED_ATTR_NS:
            _drop(node)
            continue
        for attr in list(node.attrib):
            if (etree.QName(attr).namespace or "") not in ALLOWED_ATTR_NS:
                del node.attrib[attr]

    def q(tag: str) -> str:
        return f"{{{BPMN}}}{tag}"

    for process in root.iter(q("process")):
        process.set("isExecutable", "true")
    for node in root.iter(q("conditionExpression")):
        node.text = "True"
    for node in root.iter(q("linkEventDefinition")):
        node.set("name", node.get("name") or "link")
    for tag, value in (("timeDuration", "'PT1H'"), ("timeDate", "'2025-01-01T00:00:00+00:00'")):
        for node in root.iter(q(tag)):
            node.text = value
    for node in root.iter(q("timeCycle")):
        node.text = "'R1/PT1H'"
    kinds = ("task", "userTask", "manualTask", "serviceTask", "businessRuleTask", "sendTask")
    for node in list(root.iter(*(q(k) for k in (*kinds, "scriptTask")))):
        node.tag = q("scriptTask")
        if "implementation" in node.attrib:
            del node.attrib["implementation"]
        for script in node.findall(q("script")):
            node.remove(script)
        etree.SubElement(node, q("script")).text = "x = 1"
    return root


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_stripped_files_reach_spiffworkflow_without_crashing(path: Path) -> None:
    root = _strip(path.read_text(encoding="utf-8"))
    for _ in range(12):
        try:
            compile_bundle("corpus", {path.name: etree.tostring(root, encoding="unicode")}, SANDBOX)
            return
        except DefinitionInvalid as exc:
            problems = exc
        assert _problems_are_located(problems) == []
        refused = {p.element for p in problems.problems}
        doomed = [
            n
            for n in root.iter()
            if isinstance(n.tag, str)
            and n.get("id") in refused
            and etree.QName(n).localname not in ("process", "collaboration", "participant")
            and n.getparent() is not None
        ]
        if not doomed:
            return
        for node in doomed:
            _drop(node)


def test_a_long_process_is_checked_without_exhausting_the_stack() -> None:
    """1,500 steps in a row: the cycle check once recursed per step and crashed."""
    steps = 1500
    tasks = "".join(
        f'<bpmn:scriptTask id="t{i}"><bpmn:script>x = {i}</bpmn:script></bpmn:scriptTask>'
        for i in range(steps)
    )
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="t{i}" targetRef="t{i + 1}"/>'
        for i in range(steps - 1)
    )
    xml = (
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
        'targetNamespace="x"><bpmn:process id="long" isExecutable="true">'
        f'<bpmn:startEvent id="s"/>{tasks}<bpmn:endEvent id="e"/>'
        f'<bpmn:sequenceFlow id="fs" sourceRef="s" targetRef="t0"/>{flows}'
        f'<bpmn:sequenceFlow id="fe" sourceRef="t{steps - 1}" targetRef="e"/>'
        "</bpmn:process></bpmn:definitions>"
    )
    with pytest.raises(DefinitionInvalid) as refused:
        compile_bundle("long", {"long.bpmn": xml}, SANDBOX)
    assert refused.value.problems[0].element.startswith("t")


def test_the_cli_refuses_the_corpus_line_by_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "deploy", str(CORPUS_DIR), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) > len(CORPUS)
    assert all(line.startswith(("error: ", "Error: ")) for line in lines), lines[:3]
    assert all(re.match(r"\w+: [^:]+\.bpmn:\d+ \[[^\]]+\]: ", line) for line in lines), [
        line for line in lines if not re.match(r"\w+: [^:]+\.bpmn:\d+ \[[^\]]+\]: ", line)
    ][:3]


CIVP_DIR = ROOT / "processes" / "civp"
BROKEN = {
    # a process without an id crashed SpiffWorkflow's own error message (TypeError)
    "process has no id": ('<bpmn:process id="civp_contract"', "<bpmn:process", "civp_definitions"),
    # SpiffWorkflow ignored the boundary event silently: the reminder would never fire
    "attached to nowhere": (
        'attachedToRef="sign_beneficiary"',
        'attachedToRef="nowhere"',
        "remind_beneficiary",
    ),
    # SpiffWorkflow answered with its own TypeError
    "not declared": ('messageRef="msg_signature_result"', 'messageRef="nope"', "sign_beneficiary"),
    "targetRef primo_x does not exist": (
        'targetRef="primo"/>',
        'targetRef="primo_x"/>',
        "f_init_elig",
    ),
    "scriptTask has no id": ('<bpmn:scriptTask id="init"', "<bpmn:scriptTask", "civp_contract"),
}


@pytest.mark.parametrize("message", list(BROKEN))
def test_broken_references_are_refused_with_their_element(message: str) -> None:
    _, sources = read_sources(CIVP_DIR)
    before, after, element = BROKEN[message]
    assert before in sources["civp.bpmn"]
    sources["civp.bpmn"] = sources["civp.bpmn"].replace(before, after, 1)
    with pytest.raises(DefinitionInvalid) as refused:
        compile_bundle("civp", sources, SANDBOX)
    found = [p for p in refused.value.problems if message in p.message]
    assert found and found[0].element == element and found[0].line > 0, refused.value.problems


def test_the_corpus_covers_what_issue_7_asks_for() -> None:
    """Camunda Modeler 7 files, bpmn.io examples, pools, message flows, data objects, event
    sub-processes, collapsed sub-processes, text annotations and groups."""
    found: dict[str, set[str]] = {}
    di = "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape"
    for path in CORPUS:
        root = etree.parse(str(path)).getroot()
        features = set()
        exporter = root.get("exporter", "")
        if "Camunda Modeler" in exporter and root.nsmap.get("camunda"):
            features.add("camunda modeler 7")
        if path.name.startswith("bpmnio-"):
            features.add("bpmn.io example")
        for tag in ("participant", "messageFlow", "dataObject", "textAnnotation", "group"):
            if root.find(f".//{{{BPMN}}}{tag}") is not None:
                features.add(tag)
        if any(s.get("triggeredByEvent") == "true" for s in root.iter(f"{{{BPMN}}}subProcess")):
            features.add("event sub-process")
        collapsed = {s.get("bpmnElement") for s in root.iter(di) if s.get("isExpanded") == "false"}
        if any(s.get("id") in collapsed for s in root.iter(f"{{{BPMN}}}subProcess")):
            features.add("collapsed sub-process")
        for feature in features:
            found.setdefault(feature, set()).add(path.name)
    wanted = {
        "camunda modeler 7": 5,
        "bpmn.io example": 5,
        "participant": 5,
        "messageFlow": 5,
        "dataObject": 3,
        "event sub-process": 3,
        "collapsed sub-process": 3,
        "textAnnotation": 3,
        "group": 2,
    }
    assert {k: len(found.get(k, ())) >= n for k, n in wanted.items()} == dict.fromkeys(
        wanted, True
    ), {k: sorted(v) for k, v in found.items()}
