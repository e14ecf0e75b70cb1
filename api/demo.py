"""Demo data for the embedded default: the 6 pilot offices, their people, and contracts in
various states, created through the real commands (so they have real histories). Idempotent."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.access.accounts import company_namespace, hash_password, principal_of
from engine.commands.aqd import Aqd
from engine.employers import Proof, record_checked_employer, registration
from engine.errors import NotFound, TaskNotReady
from engine.kernel.signature_events import SIGNING_PARTIES, signature_result
from engine.models import Beneficiary, Employer, HumanTask, Office, Outbox, User, UserRole
from engine.outbox import runner as outbox
from signing import requests

# Every demo account signs in with this password (printed by ``aqd demo`` and ``make run``).
DEMO_PASSWORD = "aqd-demo-2025"  # noqa: S105 (demo accounts only, printed on purpose)
#: the scan standing for the demo companies' checked status and certificates
DEMO_PROOF = Proof("attestation-demo.pdf", b"%PDF-1.4\n% Aqd demo: certificate scan\n")

#: each pilot office's governorate as the registry and the decision tables name it
RESIDENCE = {
    "TUN": "TUNIS", "BAR": "BEN_AROUS", "GAF": "GAFSA", "GAB": "GABES", "KEF": "KEF",
    "SOU": "SOUSSE",
}  # fmt: skip
PILOT_OFFICES = (
    ("TUN", "Tunis", "تونس", "Tunis"),
    ("BAR", "Ben Arous", "بن عروس", "Ben Arous"),
    ("GAF", "Gafsa", "قفصة", "Gafsa"),
    ("GAB", "Gabès", "قابس", "Gabès"),
    ("KEF", "Le Kef", "الكاف", "Le Kef"),
    ("SOU", "Sousse", "سوسة", "Sousse"),
)
# Offices not in the pilot (still on paper): the comparison group of the pilot's evidence.
OTHER_OFFICES = (
    ("SFX", "Sfax", "صفاقس", "Sfax"),
    ("NAB", "Nabeul", "نابل", "Nabeul"),
    ("BIZ", "Bizerte", "بنزرت", "Bizerte"),
)
FIRST_NAMES = ("Amira", "Mohamed", "Salma", "Youssef", "Ines", "Aziz", "Rim", "Karim")
LAST_NAMES = ("Ben Salah", "Trabelsi", "Jebali", "Gharbi", "Mejri", "Hammami", "Ayari", "Saidi")
SECTORS = ("informatique", "industrie", "commerce", "tourisme", "agroalimentaire", "services")


@dataclass
class DemoReport:
    created: bool
    offices: int = 0
    users: list[str] = field(default_factory=list)
    contracts: int = 0

    def summary(self) -> str:
        if not self.created:
            return "demo data already present (nothing changed)"
        people = ", ".join(self.users)
        return (
            f"demo data: {self.offices} pilot offices, {self.contracts} contracts; "
            f"accounts (password {DEMO_PASSWORD}): {people}"
        )


def seed(aqd: Aqd, real_signatures: bool = True) -> DemoReport:
    """Create the demo data unless it exists; each contract step is its own transaction.

    The active contract of each pilot office is signed for real by its three parties (the
    ceremony of ``signature_requests`` and the ``signing`` handlers, which must be registered:
    ``aqd demo`` does). ``real_signatures=False`` answers the signing steps directly instead
    (the web tests, which reseed for every test; the ceremony is tested in tests/signing)."""
    with aqd.session() as session, session.begin():
        if session.scalar(select(Office.id).where(Office.code == "TUN")) is not None:
            return DemoReport(created=False)
        report = DemoReport(created=True)
        _seed_parties(session, report, aqd)
    for index, (code, *_rest) in enumerate(PILOT_OFFICES):
        report.contracts += _seed_contracts(aqd, code, index, real_signatures)
    return report


def _seed_parties(session: Session, report: DemoReport, aqd: Aqd) -> None:
    now = aqd.clock.now()
    # One hash for all demo accounts keeps seeding fast; real accounts each get their own salt.
    password_hash = hash_password(DEMO_PASSWORD)

    def account(username: str, name: str, role: str, locale: str, **scope: int) -> None:
        user = User(
            username=username,
            display_name=name,
            password_hash=password_hash,
            locale=locale,
            created_at=now,
            **scope,
        )
        session.add(user)
        session.flush()
        session.add(UserRole(user_id=user.id, role=role))
        report.users.append(username)

    for index, (code, name_fr, name_ar, governorate) in enumerate(PILOT_OFFICES):
        office = Office(
            code=code,
            name_fr=f"Bureau de l'emploi de {name_fr}",
            name_ar=f"مكتب التشغيل والعمل المستقل ب{name_ar}",
            governorate=governorate,
            pilot=True,
            go_live=date(2025, 1, 6),
        )
        session.add(office)
        session.flush()
        report.offices += 1
        locale = "ar" if index % 2 else "fr"
        for role, prefix in (("counsellor", "counsellor"), ("office_head", "head")):
            name = f"{prefix.title()} {name_fr}"
            account(f"{prefix}.{code.lower()}", name, role, locale, office_id=office.id)
        for e in range(2):
            employer = Employer(
                name=f"Entreprise {name_fr} {e + 1}",
                matricule_fiscal=f"{1000000 + index * 10 + e}{'ABCDEF'[index]}",
                cnss_number=f"{20000000 + index * 10 + e}",
                sector=SECTORS[(index + e) % len(SECTORS)],
                governorate=governorate,
                office_id=office.id,
            )
            session.add(employer)
            session.flush()
            # checked by the office: a private firm, tax and CNSS certificates valid a year
            record_checked_employer(
                session,
                employer.id,
                "PRIVATE_FIRM",
                now.date() - timedelta(days=30),
                now.date() + timedelta(days=335),
                DEMO_PROOF,
                f"counsellor.{code.lower()}",
                now,
            )
            username = employer_account(code, e)
            account(username, employer.name, "employer", locale, employer_id=employer.id)
        for b in range(4):
            n = index * 4 + b
            beneficiary = Beneficiary(
                cin=f"{10000000 + n * 137:08d}",
                first_name=FIRST_NAMES[n % len(FIRST_NAMES)],
                last_name=LAST_NAMES[(n * 3) % len(LAST_NAMES)],
                birth_date=date(1995 + n % 8, 1 + n % 12, 1 + n % 27),
                diploma_level="HIGHER_ED" if b < 3 else "OTHER",
                disabled=b == 2,
                office_id=office.id,
                registration_number=f"{code}-2024-{b + 1:05d}",
                registered_on=date(2024, 1 + n % 12, 1 + n % 27),
                # the fourth worked 30 months in a row after school: not a first-time job seeker
                months_worked_continuous=30 if b == 3 else 0,
                schooling_ok=b != 3,
                # every fact each programme reads, so that any programme can be requested
                # (Karama and the service civique want a diploma at least two years old)
                diploma_date=date(2021, 6, 30) if b < 3 else date(2016, 6, 30),
                cnss_quarters_since_diploma=10 if b == 3 else 0,
                # the last job: a student job before the diploma, or (the fourth) the job of
                # 30 months, both lost for economic reasons (what CRVA asks)
                last_job_end_date=date(2020, 12, 31) if b < 3 else date(2023, 12, 31),
                job_loss_reason="ECONOMIC",
                permanent_worker=True,
                years_in_last_firm=2 if b == 3 else 1,
                residence_governorate=RESIDENCE[code],
            )
            session.add(beneficiary)
            if b == 2:  # the job seeker whose demo contract is active
                session.flush()
                full = f"{beneficiary.first_name} {beneficiary.last_name}"
                username = f"beneficiary.{code.lower()}"
                account(username, full, "beneficiary", locale, beneficiary_id=beneficiary.id)
    _seed_pending_company(session, aqd, account)
    for code, name_fr, name_ar, governorate in OTHER_OFFICES:
        session.add(
            Office(
                code=code,
                name_fr=f"Bureau de l'emploi de {name_fr}",
                name_ar=f"مكتب التشغيل والعمل المستقل ب{name_ar}",
                governorate=governorate,
                pilot=False,
            )
        )
    for username, role in (
        ("manager", "programme_manager"),
        ("auditor", "auditor"),
        ("admin", "admin"),
    ):
        account(username, username.title(), role, "fr")


#: a company that registered on the web and waits for the Tunis office to check its proofs
PENDING_COMPANY = ("Médina Digital SARL", "7777777P", "31415926")
PENDING_ACCOUNT = f"nour@{company_namespace(PENDING_COMPANY[1])}"


def demo_scan(title: str) -> bytes:
    """A PNG standing for a scanned document (it decodes, as every upload must)."""
    from PIL import Image, ImageDraw  # noqa: PLC0415 (only the demo draws one)

    image = Image.new("RGB", (420, 160), "white")
    ImageDraw.Draw(image).text((20, 60), title, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _seed_pending_company(session: Session, aqd: Aqd, account: Callable[..., None]) -> None:
    """A company registered on the web with its three proofs, pending at the Tunis office
    (``counsellor.tun`` or ``head.tun`` checks it on /companies)."""
    name, mf, cnss = PENDING_COMPANY
    office = session.scalar(select(Office.id).where(Office.code == "TUN"))
    if office is None:
        raise NotFound("the demo's Tunis office is missing")
    employer = Employer(
        name=name,
        matricule_fiscal=mf,
        cnss_number=cnss,
        sector="informatique",
        governorate="Tunis",
        office_id=office,
        registration=registration.PENDING,
    )
    session.add(employer)
    session.flush()
    account(PENDING_ACCOUNT, "Nour Ben Amor", "employer", "ar", employer_id=employer.id)
    uploads = [
        registration.CompanyUpload(kind, f"{kind}-{mf}.png", demo_scan(f"{kind} {mf} {name}"))
        for kind in registration.KINDS
    ]
    checked = registration.check_uploads(aqd, uploads)
    registration.store_uploads(session, aqd, employer, checked, PENDING_ACCOUNT)


def employer_account(office_code: str, index: int) -> str:
    """``employer.tun`` for an office's first demo company, ``employer2.tun`` for its second."""
    return f"employer{index + 1 if index else ''}.{office_code.lower()}"


def _request(session: Session, code: str, index: int, b: int) -> dict[str, object]:
    office = session.scalar(select(Office).where(Office.code == code))
    if office is None:
        raise NotFound(f"demo office {code} is not seeded")
    employer = session.scalars(
        select(Employer).where(Employer.office_id == office.id).order_by(Employer.id)
    ).all()[b % 2]
    beneficiary = session.scalars(
        select(Beneficiary).where(Beneficiary.office_id == office.id).order_by(Beneficiary.id)
    ).all()[b]
    # the demo's history: contracts requested in January, on the registry's facts
    return {
        "office": code,
        "employer_mf": employer.matricule_fiscal,
        "beneficiary_cin": beneficiary.cin,
        "nationality": beneficiary.nationality,
        "diploma_level": beneficiary.diploma_level,
        "disabled": beneficiary.disabled,
        "months_worked_continuous": beneficiary.months_worked_continuous,
        "months_worked_total": beneficiary.months_worked_total,
        "schooling_ok": beneficiary.schooling_ok,
        "request_date": "2025-01-15",
    }


def _complete(aqd: Aqd, contract_id: int, bpmn_id: str, data: dict[str, object], user: str) -> None:
    with aqd.session() as session, session.begin():
        guid = session.scalar(
            select(HumanTask.task_guid).where(
                HumanTask.contract_id == contract_id,
                HumanTask.bpmn_id == bpmn_id,
                HumanTask.status == "ready",
            )
        )
        if guid is None:
            raise TaskNotReady(f"demo step {bpmn_id} is not ready")
        aqd.complete_task(session, guid, data, user)


def _seed_contracts(aqd: Aqd, code: str, index: int, real_signatures: bool) -> int:
    agreement = {
        "agreed": True,
        "position_title": "Assistant(e) administratif(ve)",
        "tutor_name": "Mme Hela Ben Amor",
        "employer_complement": 200,
    }
    counsellor = f"counsellor.{code.lower()}"
    ids: list[int] = []
    for b in range(4):
        with aqd.session() as session, session.begin():
            contract = aqd.start_contract(
                session, "civp", _request(session, code, index, b), "demo"
            )
            ids.append(contract.id)
    # 0: waits for the employer; 1: waits for the counsellor; 2: active; 3: refused (not eligible)
    _complete(aqd, ids[1], "employer_agreement", agreement, employer_account(code, 1))
    _complete(aqd, ids[2], "employer_agreement", agreement, employer_account(code, 0))
    _complete(aqd, ids[2], "counsellor_validation", {"validation_decision": "validate"}, counsellor)
    _sign(aqd, ids[2], code, real_signatures)
    return len(ids)


def _drain(aqd: Aqd) -> None:
    if aqd.plugins.handler_for("signature_request") is None:
        raise RuntimeError("the signing handlers are not registered (run `aqd demo`)")
    for _ in range(20):
        if outbox.run_once(aqd).claimed == 0:
            return


def _sign(aqd: Aqd, contract_id: int, code: str, real: bool) -> None:
    """Every party signs the contract, in the programme's order."""

    if not real:
        for party in SIGNING_PARTIES:
            with aqd.session() as session, session.begin():
                key = session.scalar(
                    select(Outbox.idempotency_key).where(
                        Outbox.contract_id == contract_id,
                        Outbox.kind == "signature_request",
                        Outbox.status == "pending",
                    )
                )
                if key is not None:
                    aqd.record_side_effect(session, key, True, {"party": party})
                aqd.correlate_message(
                    session, contract_id, "signature_result", signature_result(party), "demo"
                )
        return
    signers = {
        "beneficiary": f"beneficiary.{code.lower()}",
        "employer": employer_account(code, 0),
        "office": f"head.{code.lower()}",
    }
    for party in SIGNING_PARTIES:
        _drain(aqd)
        with aqd.session() as session:
            user = session.scalar(select(User).where(User.username == signers[party]))
            if user is None:
                raise NotFound(f"demo signer {signers[party]} is not seeded")
            principal = principal_of(session, user)
            [pending] = [
                r
                for r in requests.pending_for(session, principal)
                if r["contract_id"] == contract_id
            ]
        with requests.ceremony(aqd) as session:
            _request, token = requests.rotate_link(aqd, session, pending["id"], principal)
        with requests.ceremony(aqd) as session:
            _request, one_time = requests.send_code(aqd, session, token, principal)
        with requests.ceremony(aqd) as session:
            requests.consent(
                aqd,
                session,
                token,
                principal,
                code=one_time,
                accepted=True,
                consent_version=requests.CONSENT_VERSION,
                document_sha256=pending["document_sha256"],
                client_ip="127.0.0.1",
                user_agent="aqd demo",
            )
    _drain(aqd)
