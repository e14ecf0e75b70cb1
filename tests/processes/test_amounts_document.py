"""One source for every amount (issue 17 item 4, issue 20 item 3): for every programme, a contract
runs to its first monthly payment, and the amount its contract document states (the rendered
PDF, read back with poppler's pdftotext) is the amount of that month's payment order. Both come
from the programme's amount decision; before, the document had its own copy of the CIVP formula
and stated nothing for the other programmes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.definitions.amounts import contract_amounts
from engine.definitions.deploy import deploy
from engine.inbox.terms import contract_terms
from engine.models import Contract, ProcessDefinition
from signing.documents import render
from signing.service import SYSTEM
from tests.conftest import ROOT, World

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")

PARTIES = {"office": "TUN", "employer_mf": "1234567A", "beneficiary_cin": "12345678"}
PROGRAMMES: dict[str, dict[str, Any]] = {
    "civp": {
        "request": {"nationality": "TN", "diploma_level": "HIGHER_ED", "disabled": True},
        "agreement": {
            "agreed": True,
            "position_title": "Développeur",
            "tutor_name": "M. Tuteur",
            "employer_complement": 200,
        },
        "month": ("attendance", {"days_present": 19}),
        "stated": ("250.000", "200"),  # 200 + 50 (disability); the firm's agreed complement
    },
    "crva": {
        "request": {"nationality": "TN", "job_loss_reason": "CLOSURE", "disabled": False},
        "agreement": {
            "agreed": True,
            "position_title": "Technicien",
            "tutor_name": "M. Tuteur",
            "employer_complement": 300,
        },
        "month": ("attendance", {"days_present": 22}),
        "stated": ("300.000", "300"),
    },
    "csc": {
        "request": {
            "nationality": "TN",
            "diploma_level": "HIGHER_ED",
            "diploma_date": "2023-07-15",
            "host_type": "ASSOCIATION",
        },
        "agreement": {"agreed": True, "activity": "Soutien scolaire", "tutor_name": "Mme T"},
        "month": ("attendance", {"days_present": 18}),
        "stated": ("200.000", "0"),  # the host pays no complement
    },
    "karama": {
        "request": {
            "nationality": "TN",
            "diploma_level": "HIGHER_ED",
            "diploma_date": "2021-06-30",
        },
        "agreement": {
            "agreed": True,
            "contract_type": "CDI",
            "position_title": "Analyste",
            "gross_salary": 900,
        },
        "month": (
            "salary_proof",
            {"salary_paid": True, "gross_salary": 900, "proof_reference": "VIR-1"},
        ),
        # 400 + 600 x 16.57 %; the employer bears the wage above the FNE's 400
        "stated": ("499.420", "500"),
    },
    "cides": {
        "clock": datetime(2018, 9, 3, 8, 0, tzinfo=UTC),
        "request": {
            "nationality": "TN",
            "diploma_level": "HIGHER_ED",
            "diploma_date": "2014-06-30",
            "residence_governorate": "KAIROUAN",
            "request_date": "2018-09-01",
            "start_date": "2018-10-01",
        },
        "agreement": {
            "agreed": True,
            "hire_commitment": True,
            "position_title": "Technicien qualité",
            "tutor_name": "Mme Tutrice",
            "employer_complement": 150,
            "firm_governorate": "TUNIS",
        },
        "training": {
            "training_institution": "Centre sectoriel de formation de Tunis",
            "training_hours": 400,
            "training_content": "Qualité, normes ISO 9001",
            "beneficiary_agreed": True,
        },
        "month": ("attendance", {"days_present": 20}),
        "stated": ("200.000", "150"),  # 150 + 50 (lives outside the firm's governorate)
    },
}


def document_amounts(world: World, cid: int, tmp_path: Path) -> tuple[str, str]:
    """(the State's monthly amount, the employer's) as the rendered contract PDF states them."""
    with world.aqd.session() as s:
        terms = contract_terms(world.aqd, s, SYSTEM, cid)
    path = tmp_path / f"{cid}.pdf"
    path.write_bytes(render(terms).pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    state = re.search(r"Bourse mensuelle versée par l'État\s+([\d.]+) TND", text)
    employer = re.search(r"Complément mensuel de l'employeur\s+([\d.]+) TND", text)
    assert state is not None and employer is not None, text
    return state.group(1), employer.group(1)


@pytest.mark.parametrize("programme", sorted(PROGRAMMES))
def test_the_document_states_the_amount_the_first_month_pays(
    world: World, programme: str, tmp_path: Path
) -> None:
    spec = PROGRAMMES[programme]
    if "clock" in spec:
        world.clock.set(spec["clock"])
    world.deploy(programme)
    request = {
        **PARTIES,
        "request_date": "2025-03-01",
        "start_date": "2025-04-01",
        **spec["request"],
    }
    cid = world.start_programme(programme, request)
    world.complete(cid, "employer_agreement", spec["agreement"], "employer")
    if "training" in spec:
        world.complete(cid, "training_programme", spec["training"], "employer")
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"}, "c")
    world.sign_all(cid)
    stated = document_amounts(world, cid, tmp_path)

    task, facts = spec["month"]
    key = world.run_month(cid, task=task, data=facts)
    orders = world.orders(cid)
    assert [k for k, _ in orders] == [key] and ":1:" in key
    paid = orders[0][1]

    assert stated[0] == paid, f"document {stated[0]} TND, payment order {paid} TND"
    assert stated == spec["stated"]
    # after the month the document still states the same amounts: its facts are the contract's
    assert document_amounts(world, cid, tmp_path) == stated


def test_a_version_without_an_amount_decision_uses_the_latest_that_has_one(
    world: World, tmp_path: Path
) -> None:
    """Versions deployed before the amounts were decisions computed them in a script: their
    document states the amount of the programme's latest version that declares the decision,
    on the contract's own facts and parameters."""
    folder = tmp_path / "civp"
    shutil.copytree(ROOT / "processes" / "civp", folder)
    manifest = json.loads((folder / "programme.json").read_text())
    del manifest["amounts"]
    (folder / "programme.json").write_text(json.dumps(manifest))
    with world.aqd.session() as s, s.begin():
        assert deploy(s, folder, world.aqd.sandbox, world.clock).definition.version == 2
    cid = world.start(disabled=True)
    with world.aqd.session() as s:
        contract = s.get(Contract, cid)
        assert contract is not None
        pinned = s.get(ProcessDefinition, contract.definition_id)
        assert pinned is not None and pinned.version == 2
        assert "amounts" not in pinned.meta["manifest"]
        data = {"diploma_level": "HIGHER_ED", "disabled": True, "params": PARAMS_2025}
        amounts = contract_amounts(s, contract, data, world.aqd.sandbox, world.clock.now())
    assert amounts["amount"] == "250.000"


PARAMS_2025 = {"stipend_higher_ed": 200, "stipend_other": 150, "disability_topup": 50}
