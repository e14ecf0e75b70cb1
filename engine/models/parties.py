"""Offices, users and roles, employers and beneficiaries (DESIGN.md §4-5)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigId, UTCDateTime

ROLES = (
    "counsellor",
    "office_head",
    "finance",
    "employer",
    "beneficiary",
    "programme_manager",
    "auditor",
    "admin",
)


class Office(Base):
    """An employment office (BETI)."""

    __tablename__ = "office"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_fr: Mapped[str] = mapped_column(String(200))
    name_ar: Mapped[str] = mapped_column(String(200))
    governorate: Mapped[str] = mapped_column(String(64))
    pilot: Mapped[bool] = mapped_column(Boolean, default=False)
    go_live: Mapped[date | None] = mapped_column(Date, nullable=True)


class Employer(Base):
    __tablename__ = "employer"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    matricule_fiscal: Mapped[str] = mapped_column(String(32), unique=True)
    cnss_number: Mapped[str] = mapped_column(String(32))
    sector: Mapped[str] = mapped_column(String(64))
    governorate: Mapped[str] = mapped_column(String(64))
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    #: ``pending`` (self-registered, not yet checked by its office), ``checked`` or ``refused``
    #: (engine/employers/registration.py). A company the office enters itself is ``checked``.
    registration: Mapped[str] = mapped_column(
        String(16), default="checked", server_default="checked"
    )


class Beneficiary(Base):
    """A job seeker registered at an office: the registry record. It is the only source of the
    facts that decide a contract's eligibility and amounts (DESIGN.md invariant 11); a request
    names the person, never these facts (engine/registry)."""

    __tablename__ = "beneficiary"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cin: Mapped[str] = mapped_column(String(16), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    diploma_level: Mapped[str] = mapped_column(String(32), default="OTHER")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(200), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # -- the facts the programmes' decisions read (engine/registry) --
    nationality: Mapped[str] = mapped_column(String(8), default="TN", server_default="TN")
    #: the agency's registration number (an employer may name the person by it)
    registration_number: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    registered_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    diploma_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: the minimum schooling the non-graduates' CIVP asks (7th year of basic education)
    schooling_ok: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    months_worked_continuous: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    months_worked_total: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    cnss_quarters_since_diploma: Mapped[int] = mapped_column(
        Integer, default=0, server_default=text("0")
    )
    #: CIVP months done before Aqd (paper contracts); Aqd's own contracts are added to them
    prior_civp_months: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    years_in_last_firm: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_job_end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: why the last job was lost (CRVA): ECONOMIC, TECHNICAL, CLOSURE or OTHER
    job_loss_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    permanent_worker: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    residence_governorate: Mapped[str | None] = mapped_column(String(32), nullable=True)


class BeneficiaryFactChange(Base):
    """One change a counsellor made to a fact of the job-seeker registry: who, when, the field,
    its value before and after (as text, ``None`` when empty), the reason and the proof they
    checked it against. Rows are only added (engine/registry/record.py): the history of a
    registry record is the list of its changes."""

    __tablename__ = "beneficiary_fact_change"
    __table_args__ = (Index("ix_beneficiary_fact_change_person", "beneficiary_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"))
    field: Mapped[str] = mapped_column(String(64))
    before: Mapped[str | None] = mapped_column(String(64), nullable=True)
    after: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(500))
    proof_filename: Mapped[str | None] = mapped_column(String(200), nullable=True)
    proof_content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    proof_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    proof: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContractRequest(Base):
    """An employer's request for a job seeker it named by CIN and date of birth (or
    registration number). It becomes a contract only when the job seeker accepts it; until
    then the employer learns nothing about the person. A look-up that matched nobody is kept
    too (``beneficiary_id`` empty), so that the employer's answer, its list and its rate limit
    do not tell whether the CIN exists."""

    __tablename__ = "contract_request"
    __table_args__ = (Index("ix_contract_request_employer_created", "employer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(36), unique=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("employer.id"))
    beneficiary_id: Mapped[int | None] = mapped_column(
        ForeignKey("beneficiary.id"), nullable=True, index=True
    )
    programme: Mapped[str] = mapped_column(String(64))
    #: the position and terms the employer gave (never a registry fact)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: awaiting_acceptance, accepted, declined or refused
    status: Mapped[str] = mapped_column(String(24))
    #: the reason code of a refusal (engine/registry)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contract.id"), nullable=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    office_id: Mapped[int | None] = mapped_column(ForeignKey("office.id"), nullable=True)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employer.id"), nullable=True)
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: where notifications go besides the mailbox (set by the user on /me/settings, applied once
    #: verified: ``engine.notifications.contacts``)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: when and how the current e-mail address / phone was verified (``code``: codes sent to
    #: it, and to the verified contact it replaced, were entered; ``office``: recorded by the
    #: office; ``mailbox``: development mode without an adapter, so no proof): None while
    #: unverified, and signing codes never go to an unverified contact
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    email_verified_via: Mapped[str | None] = mapped_column(String(8), nullable=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    phone_verified_via: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: the national identity provider's ``sub`` for this user, once they linked it (OIDC)
    oidc_subject: Mapped[str | None] = mapped_column(
        String(255), nullable=True, unique=True, index=True
    )


class UserRole(Base):
    __tablename__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))


class EmployerFact(Base):
    """One checked fact of an employer's record, with its proof: its legal status (private
    firm, liberal profession, public administration, …) or a certificate (tax or CNSS
    regularity) and the dates it is valid. Counsellors record them; rows are only added, the
    latest of a kind that covers a day is the one in force (engine/employers)."""

    __tablename__ = "employer_fact"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("employer.id"), index=True)
    #: ``legal_status``, ``tax_certificate`` or ``cnss_certificate``
    kind: Mapped[str] = mapped_column(String(32))
    #: the status (``PRIVATE_FIRM``, …) or the certificate's reference
    value: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    proof_filename: Mapped[str] = mapped_column(String(200))
    proof_content_type: Mapped[str] = mapped_column(String(100))
    proof_sha256: Mapped[str] = mapped_column(String(64))
    proof: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EmployerUpload(Base):
    """A proof a company uploaded for its office to check: its legal status document or a tax or
    CNSS certificate. ``submitted`` until the office checks it (``checked``: it is the proof of
    the fact ``fact_id``) or refuses it (``refused``); a newer upload of the same kind replaces
    a submitted one, which nobody checked."""

    __tablename__ = "employer_upload"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("employer.id"), index=True)
    #: ``legal_status``, ``tax`` or ``cnss``
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigId)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fact_id: Mapped[int | None] = mapped_column(ForeignKey("employer_fact.id"), nullable=True)
    check_id: Mapped[int | None] = mapped_column(ForeignKey("employer_check.id"), nullable=True)


class EmployerCheck(Base):
    """One decision of an office on a company's file: ``approved`` (its facts were recorded from
    the uploads, ``employer_upload.check_id`` names them) or ``refused`` with the reason the
    company reads. Rows are only added."""

    __tablename__ = "employer_check"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("employer.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
