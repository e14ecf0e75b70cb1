"""The modeller in a real browser: open CIVP, add a task, see the problem marked on it, fix
it, save, compare, deploy with a note; the new version is listed and a new contract runs it."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from engine.audit import replay
from engine.kernel.signature_events import SIGNING_PARTIES, signature_result
from engine.models import Contract, HumanTask, ProcessDefinition
from tests.helpers.browser import LiveServer, sign_in

# The modeller in a real browser (Chromium, a live server and the seeded demo per test):
# make test-all only. Chromium stays in the fast tier through tests/web/test_browser.py, and the
# modeller's API through test_modeller_api.py and test_modeller_dmn_api.py.
pytestmark = pytest.mark.slow

ADD_TASK = """() => {
  const m = window.AqdModeller.modeler;
  const registry = m.get('elementRegistry');
  const root = m.get('canvas').getRootElement();
  const anchor = registry.get('activate');
  const shape = m.get('elementFactory').createShape({ type: 'bpmn:ScriptTask' });
  const task = m.get('modeling').createShape(shape, { x: anchor.x + 60, y: anchor.y + 260 }, root);
  m.get('modeling').updateLabel(task, 'Notify the regional office');
  m.get('modeling').updateProperties(task, { script: 'regional_office_notified = True' });
  return task.id;
}"""

CONNECT = """(taskId) => {
  const m = window.AqdModeller.modeler;
  const registry = m.get('elementRegistry');
  const modeling = m.get('modeling');
  const task = registry.get(taskId);
  modeling.removeElements([registry.get('f_activate_month')]);
  modeling.connect(registry.get('activate'), task);
  modeling.connect(task, registry.get('start_first_month'));
}"""


def test_edit_validate_diff_deploy_and_run(browser: Browser, live: LiveServer) -> None:
    page = sign_in(browser, live, "manager")
    page.goto(f"{live.url}/modeller/civp")
    root = page.locator("[data-modeller]")
    expect(root).to_have_attribute("data-ready", "yes", timeout=20_000)
    task_id = page.evaluate(ADD_TASK)

    page.get_by_test_id("save").click()
    expect(root).to_have_attribute("data-saved", "1")
    expect(root).not_to_have_attribute("data-problems", "0")
    marked = page.locator(f'.djs-element.problem[data-element-id="{task_id}"]')
    expect(marked).to_have_count(1)
    expect(page.get_by_test_id("problems")).to_contain_text("not connected")

    page.evaluate(CONNECT, task_id)
    page.get_by_test_id("save").click()
    expect(root).to_have_attribute("data-saved", "2")
    expect(root).to_have_attribute("data-problems", "0")
    page.get_by_test_id("diff").click()
    expect(page.get_by_test_id("diff-summary")).to_contain_text("f_activate_month")
    expect(page.locator(f'.djs-element.diff-added[data-element-id="{task_id}"]')).to_have_count(1)
    diff = json.loads(root.get_attribute("data-diff") or "{}")
    assert task_id in diff["added"] and len(diff["added"]) == 3  # the task and two flows
    assert diff["removed"] == ["f_activate_month"]
    assert diff["changed"] == []  # layout and re-serialisation are not changes

    page.locator("#note").fill("Notify the regional office when a contract starts")
    page.get_by_test_id("deploy").click()
    expect(root).to_have_attribute("data-deployed", "2")
    page.reload()
    expect(page.get_by_test_id("version-row")).to_have_count(2)
    expect(page.get_by_test_id("versions")).to_contain_text("Notify the regional office")

    web = live.web
    with web.aqd.session() as s:
        v2 = s.scalar(
            select(ProcessDefinition).where(
                ProcessDefinition.programme == "civp", ProcessDefinition.version == 2
            )
        )
        assert v2 is not None and v2.deployed_by == "manager"
        beneficiary = s.scalars(select(Contract.beneficiary_id)).first()
        from engine.models import Beneficiary, Employer

        cin = s.scalar(select(Beneficiary.cin).where(Beneficiary.id == beneficiary))
        mf = s.scalars(select(Employer.matricule_fiscal)).first()
    request = {
        "office": "TUN",
        "employer_mf": mf,
        "beneficiary_cin": cin,
        "nationality": "TN",
        "diploma_level": "HIGHER_ED",
        "request_date": "2025-03-01",
    }
    with web.aqd.session() as s, s.begin():
        contract = web.aqd.start_contract(s, "civp", request, "test")
        cid = contract.id
    with web.aqd.session() as s:
        started = s.get(Contract, cid)
        assert started is not None and started.definition_id == v2.id
    agreement = {
        "agreed": True,
        "position_title": "Agent",
        "tutor_name": "M. X",
        "employer_complement": 200,
    }
    for step, data in (
        ("employer_agreement", agreement),
        ("counsellor_validation", {"validation_decision": "validate"}),
    ):
        with web.aqd.session() as s:
            guid = s.scalar(
                select(HumanTask.task_guid).where(
                    HumanTask.contract_id == cid,
                    HumanTask.bpmn_id == step,
                    HumanTask.status == "ready",
                )
            )
        assert guid is not None, step
        with web.aqd.session() as s, s.begin():
            web.aqd.complete_task(s, guid, data, "test")
    with web.aqd.session() as s, s.begin():
        for party in SIGNING_PARTIES:
            web.aqd.correlate_message(s, cid, "signature_result", signature_result(party), "test")
    with web.aqd.session() as s:
        history = replay.history_of(s, cid)
        state = replay.state_at(history, int(history["events"][-1]["seq"]), web.aqd.runner)
    assert state["instances"]["main"]["elements"].get(task_id) == "completed"
    assert state["instances"]["main"]["data"]["regional_office_notified"] is True
    assert any(key.startswith("month") or key != "main" for key in state["instances"])
