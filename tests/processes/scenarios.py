"""The five programmes described as data for the scenario table (``test_scenarios.py``): how to
request, agree, sign and run a contract of each, and what each month must pay to whom, computed
here from the programme's own ``parameters.json`` (never copied from the process)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import select

from engine.definitions.deploy import deploy
from engine.employers import Proof, record_certificate, record_status
from engine.kernel.planning import resolve_parameters
from engine.kernel.signature_events import signature_result
from engine.models import (
    Contract,
    Employer,
    Event,
    HumanTask,
    Outbox,
    ProcessDefinition,
    ProcessInstance,
)
from tests.conftest import AGREEMENT, ROOT, World

DMN = "https://www.omg.org/spec/DMN/20191111/MODEL/"
OUTCOMES = ("hired_cdi", "hired_cdd", "placed_elsewhere", "self_employed", "none")
Setup = Callable[[World], None]


@dataclass(frozen=True)
class Refusal:
    """One ineligible request: what differs from the programme's eligible request, the reason
    code the decision table must give, and an optional setup (facts in the database)."""

    reason: str
    changes: Mapping[str, object] = field(default_factory=dict)
    setup: Setup | None = None
    on: datetime | None = None  # when the request is made, if not the programme's clock


@dataclass(frozen=True)
class Payment:
    """One monthly payment order: who is paid, which kind, and how much (TND, 3 decimals)."""

    payee: str
    kind: str
    amount: Decimal


@dataclass(frozen=True)
class Programme:
    key: str
    clock: datetime  # when the scenario's contracts are requested
    request: dict[str, object]
    agreement: tuple[tuple[str, dict[str, object]], ...]  # employer steps before validation
    month_task: str
    month_data: dict[str, object]
    payments: Callable[[dict[str, Any], dict[str, object]], list[Payment]]
    paid_directly: str  # what the parties pay each other outside Aqd (not payment orders)
    outcome_task: str
    outcomes: Mapping[str, Mapping[str, object]]  # outcome -> form data recording it
    refusals: tuple[Refusal, ...]
    eligibility_tables: tuple[tuple[str, str], ...]  # (dmn file, reason output name)
    extension: str | None = None  # None: the programme extends; else why it does not
    not_outcomes: dict[str, str] = field(default_factory=dict)  # outcome -> why not offered

    def params(self) -> dict[str, Any]:
        """The parameters in force when the scenario's contracts start."""
        doc = json.loads((ROOT / "processes" / self.key / "parameters.json").read_text())
        return resolve_parameters(doc, self.clock)

    def monthly(self, request: dict[str, object] | None = None) -> list[Payment]:
        return self.payments(self.params(), {**self.request, **(request or {})})

    def months(self) -> int:
        return int(self.params()["contract_months"])


def tnd(value: float | int | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


# -- expected amounts, from the parameters -----------------------------------------------------


def civp_payments(params: dict[str, Any], request: dict[str, object]) -> list[Payment]:
    graduate = request["diploma_level"] in ("HIGHER_ED", "BTS")
    base = params["stipend_higher_ed"] if graduate else params["stipend_other"]
    topup = params["disability_topup"] if request.get("disabled") else 0
    return [Payment("beneficiary", "stipend", tnd(base + topup))]


def karama_payments(params: dict[str, Any], request: dict[str, object]) -> list[Payment]:
    wage = min(Decimal(str(KARAMA_SALARY)), Decimal(str(params["ss_wage_cap"])))
    social = wage * Decimal(str(params["employer_ss_rate"]))
    return [Payment("employer", "reimbursement", tnd(Decimal(params["fne_wage_share"]) + social))]


def crva_payments(params: dict[str, Any], request: dict[str, object]) -> list[Payment]:
    topup = params["disability_topup"] if request.get("disabled") else 0
    return [Payment("beneficiary", "allowance", tnd(params["fne_allowance"] + topup))]


def csc_payments(params: dict[str, Any], request: dict[str, object]) -> list[Payment]:
    return [Payment("beneficiary", "allowance", tnd(params["allowance"]))]


def cides_payments(params: dict[str, Any], request: dict[str, object]) -> list[Payment]:
    away = request["residence_governorate"] != CIDES_AGREEMENT["firm_governorate"]
    mobility = params["mobility_allowance_max"] if away else 0
    return [Payment("beneficiary", "stipend", tnd(params["aneti_stipend"] + mobility))]


# -- facts in the database ---------------------------------------------------------------------


def low_insertion_history(world: World) -> None:
    """Two CIVP contracts of the test employer ended 7 and 8 months ago without insertion."""
    with world.aqd.session() as s, s.begin():
        employer = s.scalar(select(Employer.id).where(Employer.matricule_fiscal == "1234567A"))
        definition = s.scalar(
            select(ProcessDefinition.id).where(ProcessDefinition.programme == "civp")
        )
        for n, ended in enumerate(("2024-06-30", "2024-07-31")):
            end = datetime.fromisoformat(ended).replace(tzinfo=UTC)
            s.add(
                Contract(
                    number=f"LEGACY-{n}",
                    programme="civp",
                    definition_id=definition,
                    employer_id=employer,
                    status="ended",
                    outcome="none",
                    started_at=end - timedelta(days=365),
                    ended_at=end,
                )
            )


OTHER_EMPLOYER = "7654321B"


def other_employer(
    status: str, tax_until: str = "2099-12-31", cnss_until: str = "2099-12-31"
) -> Setup:
    """A second employer of the test office whose checked record says ``status``, with tax and
    CNSS certificates valid from 2024-12-01 to the dates given (engine/employers)."""

    def setup(world: World) -> None:
        now = world.clock.now()
        proof = Proof("attestation.pdf", b"%PDF-1.4 scan")
        with world.aqd.session() as s, s.begin():
            first = s.scalar(select(Employer).where(Employer.matricule_fiscal == "1234567A"))
            assert first is not None
            s.add(
                Employer(
                    name="Autre",
                    matricule_fiscal=OTHER_EMPLOYER,
                    cnss_number="9",
                    sector="services",
                    governorate="Tunis",
                    office_id=first.office_id,
                )
            )
            s.flush()
            if status != "UNKNOWN":
                record_status(s, OTHER_EMPLOYER, status, date(2020, 1, 1), proof, "c", now)
            for kind, until in (("tax", tax_until), ("cnss", cnss_until)):
                record_certificate(
                    s,
                    OTHER_EMPLOYER,
                    kind,
                    f"{kind}-1",
                    date(2024, 12, 1),
                    date.fromisoformat(until),
                    proof,
                    "c",
                    now,
                )

    return setup


def employer_refusals() -> tuple[Refusal, ...]:
    """The employer conditions every CIVP and Karama request is checked against: a status
    nobody checked, the public sector, an association, an expired tax or CNSS certificate."""
    other = {"employer_mf": OTHER_EMPLOYER}
    return (
        Refusal("EMPLOYER_STATUS_UNKNOWN", other, other_employer("UNKNOWN")),
        Refusal("EMPLOYER_PUBLIC_SECTOR", other, other_employer("PUBLIC_ADMINISTRATION")),
        Refusal("EMPLOYER_SECTOR", other, other_employer("ASSOCIATION")),
        Refusal("TAX_NOT_UP_TO_DATE", other, other_employer("PRIVATE_FIRM", "2025-03-02")),
        Refusal(
            "CNSS_NOT_UP_TO_DATE", other, other_employer("PRIVATE_FIRM", cnss_until="2025-01-31")
        ),
    )


# -- the five programmes -----------------------------------------------------------------------

KARAMA_SALARY = 900
CIDES_AGREEMENT: dict[str, object] = {
    "agreed": True,
    "hire_commitment": True,
    "position_title": "Technicien qualité",
    "tutor_name": "Mme Tutrice",
    "employer_complement": 150,
    "firm_governorate": "TUNIS",
}
PARTY = {"office": "TUN", "employer_mf": "1234567A", "beneficiary_cin": "12345678"}
IN_2025 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
OUTCOME_FORM = {o: {"outcome": o} for o in OUTCOMES}
NOT_PRIMO = {"months_worked_continuous": 25, "months_worked_total": 25}
NO_PLACEMENT = (
    "CIDES ends at a mandatory-hire gate: the firm hires (CDI/CDD) or is sanctioned "
    "(D2009-349; PROGRAMMES.md §7.3); form hire_outcome offers neither placed_elsewhere nor "
    "self_employed"
)

PROGRAMMES: dict[str, Programme] = {
    p.key: p
    for p in (
        Programme(
            key="civp",
            clock=IN_2025,
            request={
                **PARTY,
                "nationality": "TN",
                "diploma_level": "HIGHER_ED",
                "request_date": "2025-03-01",
                "start_date": "2025-04-01",
            },
            agreement=(("employer_agreement", AGREEMENT),),
            month_task="attendance",
            month_data={"days_present": 19},
            payments=civp_payments,
            paid_directly="the employer's complement (employer_complement, 200 TND here) is "
            "paid by the firm to the beneficiary",
            outcome_task="record_outcome",
            outcomes=OUTCOME_FORM,
            refusals=(
                Refusal("NATIONALITY", {"nationality": "OTHER"}),
                Refusal("NOT_REGISTERED", {"registered_at_office": False}),
                Refusal("NOT_PRIMO", NOT_PRIMO),
                Refusal("MIN_SCHOOLING", {"diploma_level": "OTHER", "schooling_ok": False}),
                Refusal("DURATION_EXHAUSTED", {"prior_civp_months": 24}),
                Refusal("INSERTION_RATE", {}, low_insertion_history),
                *employer_refusals(),
            ),
            eligibility_tables=(
                ("civp_eligibility.dmn", "reason"),
                ("civp_employer_eligibility.dmn", "employer_reason"),
            ),
        ),
        Programme(
            key="karama",
            clock=IN_2025,
            request={
                **PARTY,
                "nationality": "TN",
                "diploma_level": "HIGHER_ED",
                "diploma_date": "2021-06-30",
                "request_date": "2025-03-01",
                "start_date": "2025-04-01",
            },
            agreement=(
                (
                    "employer_agreement",
                    {
                        "agreed": True,
                        "contract_type": "CDI",
                        "position_title": "Analyste",
                        "gross_salary": KARAMA_SALARY,
                    },
                ),
            ),
            month_task="salary_proof",
            month_data={
                "salary_paid": True,
                "gross_salary": KARAMA_SALARY,
                "proof_reference": "VIR-1",
            },
            payments=karama_payments,
            paid_directly="the employer pays the whole salary (900 TND here) to the "
            "beneficiary; Aqd reimburses the employer",
            outcome_task="record_outcome",
            outcomes=OUTCOME_FORM,
            refusals=(
                Refusal("NATIONALITY", {"nationality": "OTHER"}),
                Refusal("NOT_REGISTERED", {"registered_at_office": False}),
                Refusal("DIPLOMA", {"diploma_level": "OTHER"}),
                Refusal("TOO_RECENT", {"diploma_date": "2024-06-30"}),
                Refusal("WORK_HISTORY", {"cnss_quarters_since_diploma": 13}),
                Refusal("PRIOR_SUBSIDY", {"prior_subsidy_same_firm": True}),
                *employer_refusals(),
            ),
            eligibility_tables=(
                ("karama_eligibility.dmn", "reason"),
                ("karama_employer_eligibility.dmn", "employer_reason"),
            ),
            extension="no extension in décret 2019-542 for Karama: at most 24 monthly claims "
            "(PROGRAMMES.md §7.3; extension is CIVP only, §7.2 stage 8)",
        ),
        Programme(
            key="crva",
            clock=IN_2025,
            request={
                **PARTY,
                "nationality": "TN",
                "job_loss_reason": "CLOSURE",
                "request_date": "2025-03-01",
                "start_date": "2025-04-01",
            },
            agreement=(("employer_agreement", {**AGREEMENT, "employer_complement": 300}),),
            month_task="attendance",
            month_data={"days_present": 22},
            payments=crva_payments,
            paid_directly="the firm's share (employer_share, 300 TND) is paid by the firm to "
            "the beneficiary",
            outcome_task="record_outcome",
            outcomes=OUTCOME_FORM,
            refusals=(
                Refusal("NATIONALITY", {"nationality": "OTHER"}),
                Refusal("NOT_REGISTERED", {"registered_at_office": False}),
                Refusal("JOB_LOSS_REASON", {"job_loss_reason": "OTHER"}),
                Refusal("SENIORITY", {"permanent_worker": False, "years_in_last_firm": 2}),
            ),
            eligibility_tables=(("crva_eligibility.dmn", "reason"),),
            extension="the 2023 CRVA lasts at most 12 months, no extension "
            "(PROGRAMMES.md §7.3; extension is CIVP only, §7.2 stage 8)",
        ),
        Programme(
            key="csc",
            clock=IN_2025,
            request={
                **PARTY,
                "nationality": "TN",
                "diploma_level": "HIGHER_ED",
                "diploma_date": "2023-07-15",
                "host_type": "ASSOCIATION",
                "request_date": "2025-03-01",
                "start_date": "2025-04-01",
            },
            agreement=(
                (
                    "employer_agreement",
                    {"agreed": True, "activity": "Soutien scolaire", "tutor_name": "Mme Tutrice"},
                ),
            ),
            month_task="attendance",
            month_data={"days_present": 18},
            payments=csc_payments,
            paid_directly="nothing: the host association pays no share",
            outcome_task="record_outcome",
            outcomes=OUTCOME_FORM,
            refusals=(
                Refusal("NATIONALITY", {"nationality": "OTHER"}),
                Refusal("NOT_REGISTERED", {"registered_at_office": False}),
                Refusal("DIPLOMA", {"diploma_level": "OTHER"}),
                Refusal("TOO_RECENT", {"diploma_date": "2024-07-15"}),
                Refusal("HOST_TYPE", {"host_type": "COMPANY"}),
            ),
            eligibility_tables=(("csc_eligibility.dmn", "reason"),),
            extension="no extension in the sources for the service civique "
            "(PROGRAMMES.md §7.3; extension is CIVP only, §7.2 stage 8)",
        ),
        Programme(
            key="cides",
            clock=datetime(2018, 9, 3, 8, 0, tzinfo=UTC),
            request={
                **PARTY,
                "nationality": "TN",
                "diploma_level": "HIGHER_ED",
                "diploma_date": "2014-06-30",
                "residence_governorate": "KAIROUAN",
                "request_date": "2018-09-01",
                "start_date": "2018-10-01",
            },
            agreement=(
                ("employer_agreement", CIDES_AGREEMENT),
                (
                    "training_programme",
                    {
                        "training_institution": "Centre sectoriel de formation de Tunis",
                        "training_hours": 400,
                        "training_content": "Qualité, normes ISO 9001, métrologie",
                        "beneficiary_agreed": True,
                    },
                ),
            ),
            month_task="attendance",
            month_data={"days_present": 20},
            payments=cides_payments,
            paid_directly="the firm's complement (≥ employer_complement_min, 150 TND here) is "
            "paid by the firm to the trainee",
            outcome_task="record_hire",
            outcomes={
                "hired_cdi": {"outcome": "hired_cdi", "hire_date": "2019-10-01"},
                "hired_cdd": {"outcome": "hired_cdd", "hire_date": "2019-10-01"},
                "none": {"outcome": "none", "non_hire_reason": "Baisse d'activité"},
            },
            not_outcomes=dict.fromkeys(("placed_elsewhere", "self_employed"), NO_PLACEMENT),
            refusals=(
                Refusal(
                    "PROGRAMME_REPEALED",
                    {"request_date": "2019-06-03", "start_date": "2019-07-01"},
                    on=datetime(2019, 6, 3, 8, 0, tzinfo=UTC),
                ),
                Refusal("NATIONALITY", {"nationality": "OTHER"}),
                Refusal("NOT_REGISTERED", {"registered_at_office": False}),
                Refusal("DIPLOMA", {"diploma_level": "BTS"}),
                Refusal("UNEMPLOYMENT_DURATION", {"diploma_date": "2015-09-01"}),
            ),
            eligibility_tables=(("cides_eligibility.dmn", "reason"),),
            extension="CIDES has no extension in the sources (D2009-349; README, 'Not modelled')",
        ),
    )
}


def refusal_codes(programme: str, dmn: str, output: str) -> set[str]:
    """The reason codes a table gives when it refuses (every output row but OK and the like)."""
    tree = etree.parse(str(ROOT / "processes" / programme / dmn))
    codes: set[str] = set()
    for table in tree.iter(f"{{{DMN}}}decisionTable"):
        names = [o.get("name") for o in table.iter(f"{{{DMN}}}output")]
        flag = next(n for n in names if n and n.endswith("eligible"))
        for rule in table.iter(f"{{{DMN}}}rule"):
            entries = [
                e.findtext(f"{{{DMN}}}text", "").strip() for e in rule.iter(f"{{{DMN}}}outputEntry")
            ]
            row = dict(zip(names, entries, strict=True))
            if row[flag] == "False":
                codes.add(row[output].strip('"'))
    return codes


# -- driving a contract ------------------------------------------------------------------------


def deploy_variant(world: World, p: Programme, **values: object) -> None:
    """Deploy the programme with some parameters set to other values in every version (the
    same BPMN and DMN): e.g. ``contract_months=1`` to reach the term's steps in one month."""
    folder = Path(tempfile.mkdtemp()) / p.key
    shutil.copytree(ROOT / "processes" / p.key, folder)
    doc = json.loads((folder / "parameters.json").read_text())
    for name, value in values.items():
        for version in doc["parameters"][name]:
            version["value"] = value
    (folder / "parameters.json").write_text(json.dumps(doc))
    with world.aqd.session() as s, s.begin():
        deploy(s, folder, world.aqd.sandbox, world.clock, note=f"scenario variant {values}")
    shutil.rmtree(folder.parent)


def deployed(world: World, programme: str) -> bool:
    with world.aqd.session() as s:
        found = s.scalar(
            select(ProcessDefinition.id).where(ProcessDefinition.programme == programme)
        )
    return found is not None


def start(
    world: World,
    p: Programme,
    changes: Mapping[str, object] | None = None,
    on: datetime | None = None,
    variant: Mapping[str, object] | None = None,
) -> int:
    """Request a contract: the programme's eligible request with ``changes``, made ``on``
    (default: the programme's clock), under ``variant`` parameters if given."""
    world.clock.set(on or p.clock)
    if variant:
        deploy_variant(world, p, **variant)
    elif not deployed(world, p.key):
        world.deploy(p.key)
    return world.start_programme(p.key, {**p.request, **(changes or {})})


def agree(world: World, p: Programme, cid: int, decision: dict[str, object]) -> None:
    for task, data in p.agreement:
        world.complete(cid, task, data, "employer")
    world.complete(cid, "counsellor_validation", decision, "counsellor")


VALIDATE: dict[str, object] = {"validation_decision": "validate"}


def active(
    world: World,
    p: Programme,
    changes: Mapping[str, object] | None = None,
    variant: Mapping[str, object] | None = None,
) -> int:
    """A contract requested, agreed, validated and signed by every party."""
    cid = start(world, p, changes, variant=variant)
    agree(world, p, cid, VALIDATE)
    world.sign_all(cid)
    assert contract(world, cid).status == "active"
    return cid


def sign(world: World, cid: int, party: str, outcome: str = "signed") -> None:
    """One party's signing step: signing/ takes its request, then reports its result."""
    with world.aqd.session() as s:
        key = s.scalar(
            select(Outbox.idempotency_key).where(
                Outbox.contract_id == cid,
                Outbox.kind == "signature_request",
                Outbox.status == "pending",
            )
        )
    assert key is not None and key.endswith(f":{party}"), key
    with world.aqd.session() as s, s.begin():
        world.aqd.record_side_effect(s, key, True, {"party": party})
    world.message(cid, "signature_result", signature_result(party, outcome))


def contract(world: World, cid: int) -> Contract:
    with world.aqd.session() as s:
        c = s.get(Contract, cid)
        assert c is not None
        s.expunge(c)
        return c


def main_data(world: World, cid: int) -> dict[str, Any]:
    """The data of the contract's main workflow (completed, or as last saved)."""
    with world.aqd.session() as s:
        state = s.scalar(
            select(ProcessInstance.state).where(
                ProcessInstance.contract_id == cid, ProcessInstance.key == "main"
            )
        )
    assert state is not None
    data: dict[str, Any] = json.loads(state)["data"]
    return data


def ready(world: World, cid: int) -> list[str]:
    with world.aqd.session() as s:
        return list(
            s.scalars(
                select(HumanTask.bpmn_id)
                .where(HumanTask.contract_id == cid, HumanTask.status == "ready")
                .order_by(HumanTask.id)
            )
        )


def outbox(world: World, cid: int, kind: str | None = None) -> list[Outbox]:
    with world.aqd.session() as s:
        query = select(Outbox).where(Outbox.contract_id == cid).order_by(Outbox.id)
        if kind:
            query = query.where(Outbox.kind == kind)
        rows = list(s.scalars(query))
        for row in rows:
            s.expunge(row)
        return rows


def events(world: World, cid: int) -> list[str]:
    with world.aqd.session() as s:
        return list(
            s.scalars(select(Event.kind).where(Event.contract_id == cid).order_by(Event.seq))
        )


def instances(world: World, cid: int) -> set[str]:
    with world.aqd.session() as s:
        return set(
            s.scalars(select(ProcessInstance.status).where(ProcessInstance.contract_id == cid))
        )
