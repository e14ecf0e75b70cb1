"""Deploy-time checks: everything the engine cannot run safely is refused with file, element and
line; identical content is not deployed twice; versions are immutable."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from engine.definitions.deploy import deploy
from engine.models import ProcessDefinition
from engine.runtime.definitions import compile_bundle
from engine.runtime.sandbox import Sandbox
from tests.conftest import ROOT, World
from tests.helpers.bpmn import SIMPLE, model, problems


def test_simple_model_compiles() -> None:
    bundle = compile_bundle("simple", {"simple.bpmn": model(SIMPLE)}, Sandbox())
    assert bundle.main_process == "simple"


def test_doctype_and_entities_refused() -> None:
    xml = '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>\n' + model(SIMPLE)[22:]
    assert "DTDs and entity declarations are not allowed" in problems({"x.bpmn": xml})[0]


def test_xml_syntax_error_has_line() -> None:
    found = problems({"bad.bpmn": model(SIMPLE).replace("</bpmn:scriptTask>", "")})
    assert found[0].startswith("bad.bpmn:")
    assert "XML syntax error" in found[0]


def test_non_executable_process_refused() -> None:
    found = problems({"s.bpmn": model(SIMPLE, executable="false")})
    assert "s.bpmn:5 [simple]: process is not executable" in found[0]


def test_unknown_extensions_refused() -> None:
    body = SIMPLE.replace(
        '<bpmn:scriptTask id="script">', '<bpmn:scriptTask id="script" camunda:asyncBefore="true">'
    )
    assert "unknown extension attribute" in problems({"s.bpmn": model(body)})[0]
    body = SIMPLE.replace(
        "<bpmn:script>x = 1</bpmn:script>",
        "<bpmn:extensionElements><spiffworkflow:serviceTaskOperator id='pay'/>"
        "</bpmn:extensionElements>"
        "<bpmn:script>x = 1</bpmn:script>",
    )
    found = problems({"s.bpmn": model(body)})
    assert (
        "s.bpmn:9 [pay]: unsupported extension element spiffworkflow:serviceTaskOperator"
        in found[0]
    )


def test_expression_that_does_not_compile_names_element_and_line() -> None:
    body = SIMPLE.replace("x = 1", "x = 1\ny = ().__class__")
    found = problems({"s.bpmn": model(body)})
    assert found[0].startswith("s.bpmn:10 [script]: script does not compile")
    assert "__class__" in found[0]


def test_gateway_loop_refused() -> None:
    body = SIMPLE.replace('targetRef="end"/>', 'targetRef="script"/>').replace(
        '<bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>', ""
    )
    found = problems({"s.bpmn": model(body)})
    assert any("[f2]: sequence flow f2 loops back to script" in p for p in found)


def test_unconnected_element_refused_with_its_id() -> None:
    body = (
        SIMPLE
        + """
    <bpmn:scriptTask id="orphan" name="Forgotten step">
      <bpmn:script>y = 2</bpmn:script></bpmn:scriptTask>"""
    )
    found = problems({"s.bpmn": model(body)})
    assert len(found) == 1
    assert "[orphan]" in found[0] and "'Forgotten step' is not connected" in found[0]


def test_untyped_task_refused() -> None:
    body = SIMPLE.replace(
        '<bpmn:scriptTask id="script">', '<bpmn:task id="script" name="Do it">'
    ).replace("<bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>", "</bpmn:task>")
    found = problems({"s.bpmn": model(body)})
    assert "'Do it' has no type" in found[0] and "[script]" in found[0]


def test_user_task_needs_role_lane_and_known_form() -> None:
    body = SIMPLE.replace("scriptTask", "userTask").replace("<bpmn:script>x = 1</bpmn:script>", "")
    found = problems({"s.bpmn": model(body)})
    assert any("lane named after a role" in p for p in found)
    assert any("needs a formKey" in p for p in found)


def test_xsd_violation_refused_with_line() -> None:
    body = SIMPLE.replace('<bpmn:endEvent id="end">', '<bpmn:endEvent id="end" bogus="1">')
    found = problems({"s.bpmn": model(body)})
    assert found
    assert "s.bpmn:" in found[0]


def test_unsupported_dmn_hit_policy_refused() -> None:
    dmn = (
        (ROOT / "processes/civp/civp_eligibility.dmn")
        .read_text()
        .replace(
            '<decisionTable id="civp_beneficiary_eligibility_table" hitPolicy="FIRST">',
            '<decisionTable id="civp_beneficiary_eligibility_table" hitPolicy="PRIORITY">',
        )
    )
    assert 'hitPolicy="PRIORITY"' in dmn
    found = problems({"s.bpmn": model(SIMPLE), "e.dmn": dmn})
    assert "hit policy PRIORITY is not supported" in found[0]


def test_deploy_versions_are_content_addressed_and_immutable(world: World, tmp_path: Path) -> None:
    folder = tmp_path / "civp"
    shutil.copytree(ROOT / "processes" / "civp", folder)
    aqd, clock = world.aqd, world.clock
    with aqd.session() as s, s.begin():
        again = deploy(s, folder, aqd.sandbox, clock)
        assert (again.created, again.definition.version) == (False, 1)
    bpmn = folder / "civp.bpmn"
    bpmn.write_text(
        bpmn.read_text().replace('name="Employer agreement"', 'name="Accord employeur"')
    )
    with aqd.session() as s, s.begin():
        changed = deploy(s, folder, aqd.sandbox, clock, note="renamed task")
        assert (changed.created, changed.definition.version) == (True, 2)
    with aqd.session() as s:
        versions = s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.version)).all()
        assert [v.version for v in versions] == [1, 2]
        assert versions[0].content_hash != versions[1].content_hash
        assert "Employer agreement" in versions[0].sources["civp.bpmn"]


def test_running_contract_stays_on_its_version(world: World, tmp_path: Path) -> None:
    cid = world.start()
    folder = tmp_path / "civp"
    shutil.copytree(ROOT / "processes" / "civp", folder)
    bpmn = folder / "civp.bpmn"
    bpmn.write_text(bpmn.read_text().replace('"P7D"', '"P9D"'))
    with world.aqd.session() as s, s.begin():
        deploy(s, folder, world.aqd.sandbox, world.clock)
    new_cid = world.start()
    with world.aqd.session() as s:
        from engine.models import Contract

        old, new = s.get(Contract, cid), s.get(Contract, new_cid)
        assert old is not None
        assert new is not None
        assert old.definition_id != new.definition_id


def test_single_file_is_keyed_by_process_id(world: World, tmp_path: Path) -> None:
    path = tmp_path / "whatever.bpmn"
    path.write_text(model(SIMPLE, pid="simple_flow"))
    with world.aqd.session() as s, s.begin():
        deployed = deploy(s, path, world.aqd.sandbox, world.clock)
    assert deployed.definition.programme == "simple_flow"
