"""The main journeys in a real browser: Debian's Chromium driven by Playwright (headless),
against a real server (uvicorn) on PostgreSQL with the demo data.

Screenshots are written to ``test-artifacts/`` (override with ``AQD_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect
from sqlalchemy import select

from engine.models import Contract, Employer
from tests.helpers.browser import (
    ARTIFACTS,
    PHONE,
    LiveServer,
    new_page,
    sign_in,
    too_wide,
)
from tests.helpers.employers import scan
from tests.helpers.registry import seeker_account


def test_return_for_correction_then_approval(browser: Browser, live: LiveServer) -> None:
    counsellor = sign_in(browser, live, "counsellor.tun")
    expect(counsellor).to_have_url(re.compile(r"/inbox$"))
    assert counsellor.evaluate("typeof window.htmx") == "object", "htmx is not bundled"
    counsellor.get_by_label("Tâche", exact=True).select_option("counsellor_validation")
    counsellor.get_by_test_id("apply-filters").click()
    rows = counsellor.get_by_test_id("task-row")
    expect(rows).to_have_count(1)
    number = rows.first.get_attribute("data-contract")
    rows.first.get_by_role("link").click()
    counsellor.get_by_test_id("claim").click()
    expect(counsellor.get_by_test_id("assignee")).to_have_text("counsellor.tun")
    counsellor.get_by_label("Décision").select_option("return")
    counsellor.get_by_label("Motif du retour pour correction").fill("Préciser le poste")
    counsellor.get_by_test_id("submit").click()
    expect(counsellor.locator(".flash")).to_contain_text("étape suivante")

    employer = sign_in(browser, live, "employer2.tun")
    pending = employer.get_by_test_id("pending-step").filter(has_text=str(number))
    pending.get_by_role("link").click()
    title = employer.get_by_label("Intitulé du poste")
    expect(title).to_have_value("Assistant(e) administratif(ve)")
    title.fill("Assistant(e) administratif(ve) — service achats")
    employer.get_by_test_id("submit").click()
    expect(employer.locator(".flash")).to_be_visible()

    counsellor.goto(f"{live.url}/inbox?q={number}")
    counsellor.get_by_test_id("task-row").first.get_by_role("link").click()
    counsellor.get_by_test_id("claim").click()
    counsellor.get_by_label("Décision").select_option("validate")
    counsellor.get_by_test_id("submit").click()
    with live.web.aqd.session() as s:
        status = s.scalar(select(Contract.status).where(Contract.number == number))
    assert status == "awaiting_signature"


def test_company_pending_until_the_office_head_checks_it(
    browser: Browser, live: LiveServer, tmp_path: Path
) -> None:
    """At a phone's width: a company registers in French with its proofs, is pending and
    cannot request; the office head checks it in Arabic; the company then requests a CIVP
    contract, the job seeker accepts it, and it passes the employer eligibility."""
    cin, born, _id = seeker_account(live.web.aqd, "GAB", "seeker.gab", live.web.clock.now())
    proofs = {}
    for kind in ("legal_status", "tax", "cnss"):
        proofs[kind] = tmp_path / f"{kind}.png"
        proofs[kind].write_bytes(scan(kind))
    page = new_page(browser, PHONE)
    page.goto(f"{live.url}/register")
    page.get_by_label("Raison sociale").fill("Oasis Tech SARL")
    page.get_by_label("Matricule fiscal").fill("1472583K")
    page.get_by_label("Numéro d'affiliation CNSS de l'employeur").fill("44556677")
    page.get_by_label("Secteur").select_option("informatique")
    page.get_by_label("Gouvernorat").select_option("Gabès")
    page.get_by_label("Bureau de l'emploi").select_option("GAB")
    page.get_by_label("Votre nom").fill("Sami Gharbi")
    page.get_by_label("Identifiant").fill("sami.oasis")
    page.get_by_label("Mot de passe (au moins 10 caractères)").fill("oasis-tech-2025")
    page.get_by_label("Statut juridique (extrait du RNE, statuts)").set_input_files(
        proofs["legal_status"]
    )
    page.get_by_label("Attestation de situation fiscale").set_input_files(proofs["tax"])
    page.get_by_label("Attestation d'affiliation et de régularité CNSS").set_input_files(
        proofs["cnss"]
    )
    assert too_wide(page) == []
    page.get_by_test_id("register").click()
    expect(page).to_have_url(re.compile(r"/employer\?flash=registered$"))
    expect(page.get_by_test_id("company-status")).to_contain_text("En attente")
    expect(page.get_by_test_id("company-to-check").get_by_role("listitem")).to_have_count(3)
    expect(page.get_by_test_id("new-request")).to_have_count(0)
    assert too_wide(page) == []
    response = page.goto(f"{live.url}/employer/request?programme=civp")
    assert response is not None and response.status == 409
    expect(page.locator("main")).to_contain_text("pourra demander des contrats")

    head = sign_in(browser, live, "head.gab", PHONE)  # reads Arabic
    expect(head.locator("html")).to_have_attribute("dir", "rtl")
    head.get_by_test_id("companies-waiting").get_by_role("link").click()
    head.get_by_test_id("company-row").filter(has_text="Oasis Tech SARL").get_by_role(
        "link"
    ).click()
    expect(head.get_by_test_id("company-mf")).to_have_text("1472583K")
    expect(head.get_by_test_id("company-cnss")).to_have_text("44556677")
    status = head.get_by_test_id("check-legal_status")
    status.get_by_label("الصفة القانونية").select_option("PRIVATE_FIRM")
    status.get_by_label("منذ").fill("2019-05-01")
    for kind, reference in (("tax", "AF-2025-118"), ("cnss", "CN-2025-77")):
        section = head.get_by_test_id(f"check-{kind}")
        section.get_by_label("مرجع الشهادة").fill(reference)
        section.get_by_label("صالحة ابتداء من").fill("2025-01-01")
        section.get_by_label("صالحة إلى غاية").fill("2025-12-31")
    assert too_wide(head) == []
    head.get_by_test_id("approve-company").click()
    expect(head.locator(".flash")).to_contain_text("أُعلمت المؤسسة بقراركم")
    expect(head.get_by_test_id("no-company")).to_be_visible()

    page.goto(f"{live.url}/employer")
    expect(page.get_by_test_id("company-status")).to_contain_text("Vérifiée")
    page.get_by_test_id("new-request").click()
    page.get_by_label("Programme").select_option("civp")
    page.get_by_test_id("choose-programme").click()
    page.get_by_label("(CIN)", exact=False).fill(cin)
    page.get_by_label("Date de naissance du candidat").fill(born)
    expect(page.get_by_label("Niveau de diplôme")).to_have_count(0)  # the registry's fact
    assert too_wide(page) == []
    page.get_by_test_id("send-request").click()
    expect(page.locator(".flash")).to_contain_text("Votre demande est envoyée")
    # the job seeker accepts it in their account
    seeker = sign_in(browser, live, "seeker.gab")
    expect(seeker.get_by_test_id("request-row")).to_contain_text("Oasis Tech SARL")
    seeker.get_by_test_id("accept-request").click()
    expect(seeker.locator(".flash")).to_contain_text("Vous avez accepté la demande")
    with live.web.aqd.session() as s:
        employer_id = s.scalar(select(Employer.id).where(Employer.matricule_fiscal == "1472583K"))
        contract = s.scalar(select(Contract).where(Contract.employer_id == employer_id))
    assert contract is not None and contract.programme == "civp"
    assert contract.status == "in_review"  # the employer eligibility passed


def test_arabic_is_right_to_left(browser: Browser, live: LiveServer) -> None:
    page = sign_in(browser, live, "counsellor.tun")
    page.get_by_test_id("lang-ar").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_have_text("صندوق المهام")
    # the header starts on the right: the brand sits right of the language button
    brand = page.locator(".brand").bounding_box()
    lang = page.get_by_test_id("lang-fr").bounding_box()
    assert brand is not None and lang is not None and brand["x"] > lang["x"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inbox-ar.png"), full_page=True)
    assert (ARTIFACTS / "inbox-ar.png").stat().st_size > 10_000


def test_another_offices_task_is_not_reachable_by_url(browser: Browser, live: LiveServer) -> None:
    guid = live.web.ready_task("KEF", "counsellor_validation")
    page = sign_in(browser, live, "counsellor.tun")
    response = page.goto(f"{live.url}/tasks/{guid}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Introuvable")


def test_auditor_steps_through_history_and_verifies(browser: Browser, live: LiveServer) -> None:
    with live.web.aqd.session() as s:
        contract = s.scalars(
            select(Contract).where(Contract.status == "active").order_by(Contract.id)
        ).first()
    assert contract is not None
    page = sign_in(browser, live, "auditor")
    page.goto(f"{live.url}/contracts/{contract.id}")
    page.get_by_test_id("audit-history").click()
    expect(page.get_by_test_id("event")).to_have_count(contract.last_seq)
    page.get_by_test_id("event").first.get_by_role("link").click()
    expect(page.get_by_test_id("moment")).to_contain_text("Demande enregistrée")
    page.get_by_test_id("next-event").click()
    expect(page.get_by_test_id("moment")).to_contain_text("Étape accomplie")
    expect(page.get_by_test_id("diff").first).to_contain_text("position_title")
    diagram = page.get_by_test_id("diagram")
    expect(diagram).to_have_attribute("data-ready", "yes")
    # the path taken so far is highlighted: start, checks, the agreement sub-process...
    assert int(diagram.get_attribute("data-marked") or 0) >= 5
    assert page.locator(".djs-element.st-completed").count() >= 4
    assert page.locator(".djs-element.st-ready, .djs-element.st-waiting").count() >= 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    diagram.screenshot(path=str(ARTIFACTS / "audit-diagram.png"))
    page.get_by_test_id("verify").click()
    expect(page.get_by_test_id("verify-result")).to_have_attribute("data-ok", "yes")
