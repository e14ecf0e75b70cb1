"""The modeller's properties panel in a real browser: a programme manager selects CIVP's
counsellor task and changes its form and due date, makes a gateway's default flow conditional,
sets the signature deadline's timer, saves; the saved draft holds exactly the extension
elements and expressions the engine reads and passes the deploy checks. A due date that is not
an ISO 8601 duration is refused in the panel and not written; undo reverts an edit. In Arabic
the panel reads right to left, beside the diagram on the left."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from playwright.sync_api import Browser, Page, expect

from engine.definitions import drafts as modeller
from engine.runtime.definitions import compile_bundle
from tests.helpers.browser import ARTIFACTS, LiveServer, sign_in
from tests.modeller.corpus_files import CORPUS
from tests.web.conftest import Web

# The modeller in a real browser (Chromium, a live server and the seeded demo per test):
# make test-all only. Chromium stays in the fast tier through tests/web/test_browser.py, and the
# modeller's API through test_modeller_api.py and test_modeller_dmn_api.py.
pytestmark = pytest.mark.slow

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def open_civp(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/modeller/civp")
    expect(page.locator("[data-modeller]")).to_have_attribute("data-ready", "yes", timeout=20_000)


def select(page: Page, element_id: str) -> None:
    """Click the element on the canvas; the panel follows the selection."""
    page.locator(
        f'.djs-element.djs-shape[data-element-id="{element_id}"], '
        f'.djs-element.djs-connection[data-element-id="{element_id}"]'
    ).first.click(force=True)
    expect(page.get_by_test_id("properties-panel")).to_have_attribute("data-element", element_id)


def saved_xml(page: Page) -> str:
    """The in-memory diagram as bpmn-js would save it (not yet sent to the server)."""
    result: Any = page.evaluate(
        "async () => (await window.AqdModeller.modeler.saveXML({ format: true })).xml"
    )
    return str(result)


def node(root: Any, element_id: str) -> Any:
    found = root.xpath("//*[@id=$id]", id=element_id)
    assert len(found) == 1, element_id
    return found[0]


def properties(task: Any) -> list[tuple[str, str]]:
    return [(p.get("name"), p.get("value")) for p in task.iter(f"{SPIFF}property")]


def test_edit_what_aqd_executes_save_and_deploy_check(browser: Browser, live: LiveServer) -> None:
    page = sign_in(browser, live, "manager")
    open_civp(page, live)
    panel = page.get_by_test_id("properties-panel")

    # A user task: its form, due date and role (lane).
    select(page, "record_outcome")
    expect(panel.get_by_label("Formulaire")).to_have_value("record_outcome")
    expect(panel.get_by_label("Échéance (durée ISO 8601)")).to_have_value("P30D")
    expect(panel.get_by_label("Rôle (couloir)")).to_have_value("counsellor")
    panel.get_by_label("Formulaire").select_option("documents_check")

    due = panel.get_by_label("Échéance (durée ISO 8601)")
    due.fill("7 days")
    due.press("Enter")
    expect(due).to_have_attribute("aria-invalid", "true")
    expect(panel.get_by_role("alert")).to_contain_text("durée ISO 8601")
    assert 'value="P30D"' in saved_xml(page) and "7 days" not in saved_xml(page)
    due.fill("P10D")
    due.press("Tab")
    expect(panel.get_by_label("Échéance (durée ISO 8601)")).not_to_have_attribute(
        "aria-invalid", "true"
    )
    expect(panel.get_by_role("alert")).to_have_count(0)
    # Tab moved on, as typed
    expect(panel.get_by_label("Ou échéance en jours ouvrables")).to_be_focused()
    expect(panel.get_by_label("Échéance (durée ISO 8601)")).to_have_value("P10D")

    # Undo and redo go through bpmn-js's command stack: one panel edit is one step.
    page.locator(".modeller-canvas .djs-container > svg").focus()  # the diagram's Ctrl+Z, Ctrl+Y
    page.keyboard.press("Control+z")
    expect(panel.get_by_label("Échéance (durée ISO 8601)")).to_have_value("P30D")
    expect(panel.get_by_label("Formulaire")).to_have_value("documents_check")
    page.keyboard.press("Control+y")
    expect(panel.get_by_label("Échéance (durée ISO 8601)")).to_have_value("P10D")

    # A gateway's default flow becomes a conditional flow.
    select(page, "f_rejected")
    default = panel.get_by_label("Flux par défaut de la passerelle")
    expect(default).to_be_checked()
    expect(panel.get_by_label("Condition (expression Python)")).to_be_disabled()
    default.uncheck()
    condition = panel.get_by_label("Condition (expression Python)")
    expect(condition).to_be_enabled()
    condition.fill('validation_decision != "validate"')
    condition.press("Tab")

    # The signature deadline: a fixed duration typed as is is written as the string evaluated.
    select(page, "sign_deadline")
    expect(panel.get_by_label("Type de minuterie")).to_have_value("timeDuration")
    timer = panel.get_by_label("Expression de la minuterie")
    expect(timer).to_have_value('params["signature_deadline"]')
    timer.fill("P10D")
    timer.press("Enter")
    expect(panel.get_by_label("Expression de la minuterie")).to_have_value('"P10D"')
    # The counsellor's validation falls due in working days instead of a duration.
    # (inside the agreement sub-process: chosen from the panel's element list)
    panel.get_by_label("Élément", exact=True).select_option("counsellor_validation")
    expect(panel).to_have_attribute("data-element", "counsellor_validation")
    days = panel.get_by_label("Ou échéance en jours ouvrables")
    days.fill("3")
    days.press("Enter")
    expect(days).to_have_attribute("aria-invalid", "true")  # the duration P3D is still set
    expect(panel.get_by_role("alert")).to_contain_text("pas les deux")
    duration_field = panel.get_by_label("Échéance (durée ISO 8601)")
    duration_field.fill("")
    duration_field.press("Enter")
    days = panel.get_by_label("Ou échéance en jours ouvrables")
    days.fill("400")
    days.press("Enter")
    expect(panel.get_by_role("alert")).to_contain_text("de 1 à 90")
    days.fill("3")
    days.press("Enter")
    expect(panel.get_by_label("Ou échéance en jours ouvrables")).to_have_value("3")
    expect(panel.get_by_role("alert")).to_have_count(0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "modeller-properties-fr.png"))

    root = page.locator("[data-modeller]")
    page.get_by_test_id("save").click()
    expect(root).to_have_attribute("data-saved", "1")
    expect(root).to_have_attribute("data-problems", "0")

    # The draft as the server keeps it.
    source = page.request.get(f"{live.url}/api/v1/definitions/civp/source?file=civp.bpmn").json()
    assert source["draft"] is True and source["problems"] == []
    tree = etree.fromstring(source["xml"].encode())
    task = node(tree, "record_outcome")
    assert properties(task) == [("formKey", "documents_check"), ("dueIn", "P10D")]
    ext = task.find(f"{BPMN}extensionElements")
    assert [child.tag for child in ext] == [f"{SPIFF}properties"]
    assert node(tree, "gw_decision").get("default") is None
    expression = node(tree, "f_rejected").find(f"{BPMN}conditionExpression")
    assert expression.text == 'validation_decision != "validate"'
    assert expression.get(XSI_TYPE) == "bpmn:tFormalExpression"
    duration = node(tree, "sign_deadline_timer").find(f"{BPMN}timeDuration")
    assert duration.text == '"P10D"'
    # Untouched extension elements are kept as they were.
    assert node(tree, "primo").findtext(f".//{SPIFF}calledDecisionId") == "civp_is_primo"
    assert node(tree, "sign_beneficiary").findtext(f".//{SPIFF}messageVariable") == "signature"

    # The deploy checks pass on the programme with this draft, and the engine reads the values.
    web = live.web
    with web.aqd.read_session() as s:
        sources = dict(modeller.newest(s, "civp").sources)
    bundle = compile_bundle("civp", {**sources, "civp.bpmn": source["xml"]}, web.aqd.sandbox)
    counsellor = bundle.processes["civp_contract"].user_tasks["record_outcome"]
    assert counsellor["form_key"] == "documents_check" and counsellor["due_in"] == "P10D"
    assert counsellor["lane"] == "counsellor"
    assert properties(node(tree, "counsellor_validation")) == [
        ("formKey", "counsellor_validation"),
        ("dueInWorkingDays", "3"),
    ]
    validation = bundle.processes["civp_contract"].user_tasks["counsellor_validation"]
    assert (validation["due_in"], validation["due_working_days"]) == ("", 3)


def test_panel_edits_messages_decisions_and_lanes(browser: Browser, live: LiveServer) -> None:
    page = sign_in(browser, live, "manager")
    open_civp(page, live)
    panel = page.get_by_test_id("properties-panel")

    select(page, "eligibility")  # a business rule task calls a decision of the programme
    decision = panel.get_by_label("Table de décision appelée")
    expect(decision).to_have_value("civp_beneficiary_eligibility")
    decision.select_option("civp_extension")

    select(page, "start_first_month")  # a throw event: its message and payload
    expect(panel.get_by_label("Message", exact=True)).to_have_value("msg_month_start")
    panel.get_by_label("Nom du nouveau message").fill("civp_month_begins")
    panel.get_by_test_id("create-message").click()
    expect(panel.get_by_label("Message", exact=True)).to_have_value("msg_civp_month_begins")
    payload = panel.get_by_label("Contenu du message (expression)")
    payload.fill('{"period": 1}')
    payload.press("Tab")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "modeller-properties-message.png"))

    # Without a pointer: the element list selects a step inside the agreement sub-process.
    chooser = panel.get_by_label("Élément", exact=True)
    chooser.focus()
    chooser.select_option("employer_agreement")
    expect(panel).to_have_attribute("data-element", "employer_agreement")
    expect(panel.get_by_label("Rôle (couloir)")).to_have_value("employer")
    expect(panel.get_by_label("Élément", exact=True)).to_be_focused()  # the list keeps it
    panel.get_by_label("Élément", exact=True).select_option("record_outcome")
    expect(panel).to_have_attribute("data-element", "record_outcome")
    # The user task moves to the office head's lane.
    panel.get_by_label("Rôle (couloir)").select_option("office_head")
    expect(panel.get_by_label("Rôle (couloir)")).to_have_value("office_head")

    select(page, "f_eligible")  # an invalid id is refused, a valid one renames the flow
    ident = panel.get_by_label("Identifiant", exact=True)
    ident.fill("f eligible")
    ident.press("Enter")
    expect(ident).to_have_attribute("aria-invalid", "true")
    ident.fill("f_is_eligible")
    ident.press("Enter")
    expect(panel).to_have_attribute("data-element", "f_is_eligible")

    tree = etree.fromstring(saved_xml(page).encode())
    assert node(tree, "eligibility").findtext(f".//{SPIFF}calledDecisionId") == "civp_extension"
    message = node(tree, "msg_civp_month_begins")
    assert message.tag == f"{BPMN}message" and message.get("name") == "civp_month_begins"
    definition = node(tree, "start_first_month_def")
    assert definition.get("messageRef") == "msg_civp_month_begins"
    assert definition.findtext(f".//{SPIFF}messagePayload") == '{"period": 1}'
    # CIVP's main process had no office head lane: one is added to its lane set.
    lanes = node(tree, "civp_lanes").findall(f"{BPMN}lane")
    refs = {lane.get("name"): [r.text for r in lane.iter(f"{BPMN}flowNodeRef")] for lane in lanes}
    assert refs["office_head"] == ["record_outcome"] and refs["counsellor"] == []
    assert node(tree, "gw_eligible").findall(f"{BPMN}outgoing")[0].text == "f_is_eligible"

    # Every edit is one undo step: five undos restore the deployed meaning.
    for _ in range(5):
        page.evaluate("() => window.AqdModeller.modeler.get('commandStack').undo()")
    tree = etree.fromstring(saved_xml(page).encode())
    assert node(tree, "eligibility").findtext(f".//{SPIFF}calledDecisionId") == (
        "civp_beneficiary_eligibility"
    )
    assert not tree.xpath("//*[@id='msg_civp_month_begins']")
    assert node(tree, "start_first_month_def").get("messageRef") == "msg_month_start"
    assert tree.xpath("//*[@id='f_eligible']")
    lanes = node(tree, "civp_lanes").findall(f"{BPMN}lane")
    assert [lane.get("name") for lane in lanes] == ["counsellor", "system"]
    assert [r.text for r in lanes[0].iter(f"{BPMN}flowNodeRef")] == ["record_outcome"]

    # A user task without a form: the save's problem is marked on the diagram and listed in
    # the panel, for that element.
    select(page, "record_outcome")
    panel.get_by_label("Formulaire").select_option("")
    page.get_by_test_id("save").click()
    root = page.locator("[data-modeller]")
    expect(root).to_have_attribute("data-saved", "1")
    expect(root).not_to_have_attribute("data-problems", "0")
    expect(page.locator('.djs-element.problem[data-element-id="record_outcome"]')).to_have_count(1)
    expect(panel.locator(".prop-problems")).to_contain_text("formKey")


def test_arabic_panel_is_right_to_left(browser: Browser, live: LiveServer) -> None:
    page = sign_in(browser, live, "manager")
    open_civp(page, live)
    page.get_by_test_id("lang-ar").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("[data-modeller]")).to_have_attribute("data-ready", "yes", timeout=20_000)
    select(page, "record_outcome")
    panel = page.get_by_test_id("properties-panel")
    expect(panel.get_by_role("heading", level=2)).to_have_text("الخصائص")
    form = panel.get_by_label("الاستمارة")
    expect(form).to_have_value("record_outcome")
    due = panel.get_by_label("الأجل (مدة ISO 8601)")
    expect(due).to_have_value("P30D")
    expect(due).to_have_attribute("dir", "ltr")  # a code-like value is typed left to right
    assert panel.evaluate("e => getComputedStyle(e).direction") == "rtl"
    label = panel.locator('label[for="prop-form"]')
    assert label.evaluate("e => getComputedStyle(e).direction") == "rtl"
    # The panel sits left of the diagram, its labels start on the right.
    canvas_box = page.locator(".modeller-canvas").bounding_box()
    panel_box = panel.bounding_box()
    label_box = label.bounding_box()
    assert canvas_box is not None and panel_box is not None and label_box is not None
    assert panel_box["x"] + panel_box["width"] <= canvas_box["x"] + 1
    assert label_box["x"] + label_box["width"] > panel_box["x"] + panel_box["width"] - 40
    due.fill("7 أيام")
    due.press("Enter")
    expect(panel.get_by_role("alert")).to_contain_text("ISO 8601")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "modeller-properties-ar.png"), full_page=True)


RENDER_ALL = """async (xml) => {
  const { modeler, panel } = window.AqdModeller;
  if (xml) await modeler.importXML(xml);
  const selection = modeler.get('selection');
  const errors = [];
  let shown = 0;
  for (const element of modeler.get('elementRegistry').getAll()) {
    try {
      selection.select(element.type === 'label' ? element.labelTarget : element);
      panel.render();
      shown += 1;
    } catch (err) {
      errors.push(`${element.id}: ${err.message}`);
    }
  }
  selection.select(null);
  return { errors, shown, edits: modeler.get('commandStack')._stack.length };
}"""


def test_panel_opens_on_every_element(browser: Browser, live: LiveServer) -> None:
    """Robustness: the panel opens on every element of CIVP and of the files other tools wrote
    (tests/modeller/corpus), without an error and without changing the diagram."""
    page = sign_in(browser, live, "manager")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_civp(page, live)
    for path in [None, *CORPUS]:
        result = page.evaluate(RENDER_ALL, path.read_text(encoding="utf-8") if path else None)
        name = path.name if path else "civp.bpmn"
        assert result["shown"] > 1 and not result["errors"], (name, result["errors"][:5])
        assert result["edits"] == 0, name
    assert not errors

    # A file that draws its lanes: a task's role is shown (moving the task changes it), and the
    # lane itself is selected to change the role its name gives.
    page.evaluate(
        "(xml) => window.AqdModeller.modeler.importXML(xml)",
        (CORPUS[0].parent / "miwg-reference-C.1.0.bpmn").read_text(encoding="utf-8"),
    )
    panel = page.get_by_test_id("properties-panel")
    chooser = panel.get_by_label("Élément", exact=True)
    chooser.select_option("approveInvoice")
    expect(panel.locator("output#prop-role")).to_have_text("Approver")
    expect(panel.locator("#prop-role-hint")).to_contain_text("couloir est dessiné")
    chooser.select_option("Approver")
    role = panel.get_by_label("Rôle (couloir)")
    expect(role).to_have_value("Approver")
    role.select_option("office_head")
    tree = etree.fromstring(saved_xml(page).encode())
    assert node(tree, "Approver").get("name") == "office_head"
    chooser.select_option("approveInvoice")
    expect(panel.locator("output#prop-role")).to_have_text("le chef de bureau (office_head)")


def test_catalog_lists_forms_decisions_and_roles(web: Web) -> None:
    """What the panel's lists offer: CIVP's forms with their titles, its decisions (a draft's
    too), the lane roles; for programme managers and admins only."""
    c = web.client()
    manager = web.token("manager")
    r = c.get("/api/v1/definitions/civp/catalog", headers=manager)
    assert r.status_code == 200, r.text
    catalog = r.json()
    forms = {f["key"]: f["label"] for f in catalog["forms"]}
    assert forms["employer_agreement"] == {"fr": "Accord de l'employeur", "ar": "موافقة المؤجر"}
    assert "record_outcome" in forms and "salary_proof" not in forms  # a KARAMA form
    decisions = {d["id"]: d["file"] for d in catalog["decisions"]}
    assert decisions["civp_is_primo"] == "civp_primo.dmn" and len(decisions) == 6
    assert decisions["civp_terms"] == "civp_terms.dmn"
    assert decisions["civp_monthly_stipend"] == "civp_monthly_stipend.dmn"
    roles = {role["id"]: role["label"] for role in catalog["roles"]}
    assert roles["counsellor"] == {"ar": "المستشار", "fr": "le conseiller"} and "system" in roles
    with web.aqd.read_session() as s:
        dmn = modeller.newest(s, "civp").sources["civp_extension.dmn"]
    draft = dmn.replace('id="civp_extension"', 'id="civp_extension_2026"')
    saved = c.put(
        "/api/v1/definitions/civp/draft",
        headers=manager,
        json={"file": "civp_extension.dmn", "xml": draft},
    )
    assert saved.status_code == 200, saved.text
    ids = {
        d["id"]
        for d in c.get("/api/v1/definitions/civp/catalog", headers=manager).json()["decisions"]
    }
    assert "civp_extension_2026" in ids and "civp_extension" not in ids
    assert (
        c.get("/api/v1/definitions/civp/catalog", headers=web.token("head.tun")).status_code == 403
    )
    assert c.get("/api/v1/definitions/nope/catalog", headers=manager).status_code == 404
