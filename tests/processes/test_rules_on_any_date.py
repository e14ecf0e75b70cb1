"""Rules apply from their own date (issue 20 item 1). After an ordinary deployment made today,
every decision of every programme is asked, on every day on which any parameter of any
programme starts or stops applying (and the day before), from 2009-01-01 to today: each answers,
or says "no rule in force on DATE" (``NoRuleInForce``, one line from ``aqd decide``); none
fails otherwise. Then ``aqd decide`` itself, as the README and the issue run it."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.definitions.deploy import deploy, evaluate_decision
from engine.errors import NoRuleInForce
from engine.models import Contract, ProcessDefinition
from tests.conftest import ROOT, World, make_world
from tests.helpers.cli import Cli, refused
from tests.helpers.decisions import decisions, evaluate

PROGRAMMES = ("civp", "crva", "csc", "karama", "cides")
STANDING = {
    "legal_status": "PRIVATE_FIRM",
    "tax_certificate_until": "2099-12-31",
    "cnss_certificate_until": "2099-12-31",
}
HISTORY = {"completed": 2, "inserted": 0, "rate": 0.0, "months_since_last_end": 3}

#: decision -> cases (each date adds its own request_date / checked_on)
CASES: dict[str, list[dict[str, Any]]] = {
    "civp_beneficiary_eligibility": [
        {
            "nationality": "TN",
            "registered_at_office": True,
            "diploma_level": level,
            "is_primo": True,
            "disabled": False,
            "schooling_ok": True,
            "prior_civp_months": 0,
            "max_civp_months": 24 if level == "HIGHER_ED" else 12,
        }
        for level in ("HIGHER_ED", "OTHER")
    ],
    "civp_employer_eligibility": [
        {"employer_standing": {**STANDING, "legal_status": status}, "employer_record": HISTORY}
        for status in ("PRIVATE_FIRM", "PUBLIC_ESTABLISHMENT_COMMERCIAL")
    ],
    "civp_is_primo": [{"months_worked_continuous": 3, "months_worked_total": 40}],
    "civp_extension": [
        {
            "graduate": True,
            "already_extended": False,
            "days_to_term": 30,
            "extension_requested_months": 6,
            "months_after_extension": 18,
        }
    ],
    "civp_monthly_stipend": [
        {"days_present": 20, "diploma_level": level, "disabled": True}
        for level in ("HIGHER_ED", "OTHER")
    ],
    "crva_beneficiary_eligibility": [
        {
            "nationality": "TN",
            "registered_at_office": True,
            "job_loss_reason": "CLOSURE",
            "permanent_worker": False,
            "years_in_last_firm": 2,
        }
    ],
    "crva_monthly_allowance": [{"days_present": 22, "disabled": True}],
    "csc_eligibility": [
        {
            "nationality": "TN",
            "registered_at_office": True,
            "diploma_level": "HIGHER_ED",
            "years_since_diploma": 2,
            "host_type": "ASSOCIATION",
        }
    ],
    "csc_monthly_allowance": [{"days_present": 18}],
    "karama_beneficiary_eligibility": [
        {
            "nationality": "TN",
            "registered_at_office": True,
            "diploma_level": "HIGHER_ED",
            "years_since_diploma": 3,
            "cnss_quarters_since_diploma": 4,
            "prior_subsidy_same_firm": False,
        }
    ],
    "karama_employer_eligibility": [{"employer_standing": STANDING}],
    "karama_monthly_reimbursement": [{"salary_paid": True, "gross_salary": 900}],
    "cides_beneficiary_eligibility": [
        {
            "nationality": "TN",
            "registered_at_office": True,
            "diploma_level": "HIGHER_ED",
            "unemployed_since": "2010-06-30",
        }
    ],
    "cides_terms": [
        {
            "employer_complement": 150,
            "training_hours": 400,
            "residence_governorate": "KAIROUAN",
            "firm_governorate": "TUNIS",
        }
    ],
    "cides_monthly_stipend": [{"days_present": 20, "mobility_allowance": 50}],
    "civp_terms": [{"diploma_level": "OTHER", "employer_complement": 160}],
    "crva_terms": [{"employer_complement": 300}],
    "karama_terms": [{"trial_months": 6, "trial_renewals": 1}],
    "cides_integration_premium": [{"hire_date": "2018-10-01", "months": 12}],
}


def change_dates() -> list[date]:
    """2009-01-01, today, and every day on which a parameter of any programme starts or stops
    applying, with the day before each."""
    days = {date(2009, 1, 1), date.today()}
    for programme in PROGRAMMES:
        doc = json.loads((ROOT / "processes" / programme / "parameters.json").read_text())
        for versions in doc["parameters"].values():
            for version in versions:
                if version.get("valid_from"):
                    days.add(date.fromisoformat(version["valid_from"]))
                if version.get("valid_to"):
                    days.add(date.fromisoformat(version["valid_to"]) + timedelta(days=1))
    around = {d + timedelta(days=delta) for d in days for delta in (-1, 0)}
    return sorted(d for d in around if date(2009, 1, 1) <= d <= date.today())


def test_every_decision_of_every_programme_has_cases() -> None:
    declared = {d for p in PROGRAMMES for d in decisions(p)}
    assert declared == set(CASES)


def deployed_today(db_url: str) -> World:
    """Every programme, deployed the ordinary way (applying from today) on today's clock."""
    world = make_world(db_url, programmes=())
    world.clock.set(datetime.now(UTC))
    with world.aqd.session() as s, s.begin():
        for programme in PROGRAMMES:
            d = deploy(s, ROOT / "processes" / programme, world.aqd.sandbox, world.clock)
            assert d.definition.applies_from == date.today()
    return world


def test_every_decision_on_every_day_a_parameter_changes(db_url: str) -> None:
    world = deployed_today(db_url)
    days = change_dates()
    assert len(days) > 10 and days[0] == date(2009, 1, 1) and days[-1] == date.today()
    answered: dict[str, int] = {}
    none_in_force: dict[str, list[str]] = {}
    with world.aqd.session() as s:
        for day in days:
            on = datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC)
            for programme in PROGRAMMES:
                for decision_id in decisions(programme):
                    for case in CASES[decision_id]:
                        data = dated(case, day)
                        try:
                            out = evaluate_decision(
                                s, programme, decision_id, data, world.aqd.sandbox, world.clock, on
                            )
                        except NoRuleInForce as exc:
                            none_in_force.setdefault(decision_id, []).append(exc.message)
                            continue
                        assert out["on"] == day.isoformat() and out["outputs"], (day, out)
                        assert out["version"] == 1 and out["matched_rules"]
                        # the rules that match agree with the table's hit policy
                        evaluate(programme, decision_id, data, day)
                        answered[decision_id] = answered.get(decision_id, 0) + 1
    # every decision answers on some day, and the walk reaches days with no rule in force,
    # each said in one line that names the day
    for messages in none_in_force.values():
        for message in messages:
            assert message.startswith("no rule in force on 20") and "\n" not in message
    assert set(answered) == set(CASES), set(CASES) - set(answered)
    assert {"civp_is_primo", "crva_monthly_allowance", "karama_employer_eligibility"} <= set(
        none_in_force
    )


def dated(case: dict[str, Any], day: date) -> dict[str, Any]:
    """The case as asked on ``day`` (the request date the tables compare with)."""
    data = {**case, "request_date": day.isoformat()}
    if "employer_standing" in case:
        data["employer_standing"] = {**case["employer_standing"], "checked_on": day.isoformat()}
    return data


def test_a_version_applies_from_its_own_date(db_url: str, tmp_path: Path) -> None:
    """Deployed on 1 October 2025, applying from 1 June 2025 (an explicit choice): it answers
    from June; a later version applying from 2026 does not replace it before 2026; a new
    contract requested in 2025 runs on the version in force then."""
    world = make_world(db_url, programmes=())
    world.clock.set(datetime(2025, 10, 1, 8, tzinfo=UTC))
    folder = ROOT / "processes" / "civp"
    with world.aqd.session() as s, s.begin():
        first = deploy(s, folder, world.aqd.sandbox, world.clock, applies_from=date(2025, 6, 1))
        assert (first.definition.version, str(first.definition.applies_from)) == (1, "2025-06-01")
    assert version_on(world, "2025-05-31") == version_on(world, "2025-06-01") == 1
    changed = copy_with_a_change(folder, tmp_path)
    with world.aqd.session() as s, s.begin():
        second = deploy(s, changed, world.aqd.sandbox, world.clock, applies_from=date(2026, 1, 1))
        assert second.definition.version == 2
    assert [version_on(world, d) for d in ("2025-12-31", "2026-01-01")] == [1, 2]
    cid = world.start()
    with world.aqd.session() as s:
        contract = s.get(Contract, cid)
        assert contract is not None
        pinned = s.get(ProcessDefinition, contract.definition_id)
        assert pinned is not None and pinned.version == 1


def version_on(world: World, day: str) -> int:
    case = CASES["civp_is_primo"][0]
    on = datetime.fromisoformat(day).replace(tzinfo=UTC, hour=23)
    with world.aqd.session() as s:
        out = evaluate_decision(
            s, "civp", "civp_is_primo", case, world.aqd.sandbox, world.clock, on
        )
    version: int = out["version"]
    return version


def copy_with_a_change(folder: Path, tmp_path: Path) -> Path:
    """The CIVP folder with one description changed (new content, so a new version)."""
    target = tmp_path / "civp"
    shutil.copytree(folder, target)
    primo = target / "civp_primo.dmn"
    primo.write_text(primo.read_text().replace("Table D0", "Table D0 (2026 version)", 1))
    return target


# -- aqd decide, as the README and the issue run it ----------------------------------------------


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> Cli:
    """``aqd`` on the machine's own clock: the deployment is made today."""
    tool = Cli(db_url, tmp_path)
    del tool.env["AQD_CLOCK"]
    tool("db", "upgrade")
    return tool


def test_aqd_decide_answers_for_days_before_an_ordinary_deployment(cli: Cli) -> None:
    assert f"(applies from {date.today()})" in cli("deploy", "processes/civp").stdout
    beneficiary = cli.json_file("beneficiary.json", CASES["civp_beneficiary_eligibility"][0])
    out = json.loads(
        cli(
            "decide", "civp", "civp_beneficiary_eligibility",
            "--data", beneficiary, "--on", "2024-03-01",
        ).stdout
    )  # fmt: skip
    assert (out["on"], out["outputs"]["eligible"], out["outputs"]["reason"]) == (
        "2024-03-01",
        True,
        "OK",
    )
    # the README's own example (processes/civp/README.md, employer insertion rate)
    employer = cli.json_file(
        "case.json",
        {
            "employer_record": HISTORY,
            "employer_standing": {**STANDING, "checked_on": "2025-03-01"},
        },
    )
    out = json.loads(
        cli(
            "decide", "civp", "civp_employer_eligibility", "--data", employer, "--on", "2025-03-01"
        ).stdout
    )
    assert out["outputs"]["employer_reason"] == "INSERTION_RATE"
    # before décret 2019-542 the first-time job seeker has no definition in the sources
    primo = cli.json_file("primo.json", CASES["civp_is_primo"][0])
    message = refused(
        cli("decide", "civp", "civp_is_primo", "--data", primo, "--on", "2019-03-01", ok=False)
    )
    assert message.startswith("error: no rule in force on 2019-03-01: civp_is_primo reads")
    assert "primo_max_continuous_months" in message
