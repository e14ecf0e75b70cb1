# size: one ceremony (open, one-time code, consent or refusal, then the worker's signing and
# its record) over one table; its reads are a candidate to leave when it next grows.
"""Signature requests: the database side of signing (issue 5). No cryptography here; signing/
renders and signs the PDFs and calls these functions.

A request binds one party of one signing round to one document version by SHA-256. Its link is
a random token stored hashed, single use (consenting consumes it) and expiring; its one-time code
is stored hashed with an attempt limit. Every step is a guarded update (``WHERE status = … AND
revision = …``), so two consents racing on one request give exactly one signature, and each step
is recorded in the contract's hash-chained events (consent text version and hash, IP, user agent,
method, times). The signature itself is applied by the ``signing.apply`` outbox handler, after
commit, without any lock held during the cryptography.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.access.accounts import Principal
from engine.errors import Conflict, InvalidInput, NotFound, NotPermitted, TooManyAttempts
from engine.kernel.signature_events import SIGNING_PARTIES, signature_result
from engine.kernel.store import enqueue
from engine.models import (
    Beneficiary,
    Contract,
    Document,
    Employer,
    Notification,
    Office,
    ProcessDefinition,
    SignatureRequest,
    User,
    UserRole,
)
from engine.notifications import contacts
from engine.notifications.notify import notify

if TYPE_CHECKING:
    from engine.commands.aqd import Aqd

APPLY_KIND = "signing.apply"
LINK_DAYS = 7
CODE_MINUTES = 10
MAX_CODE_ATTEMPTS = 5
MAX_CODES = 5
OPEN = ("open", "code_sent")
#: The method of a signature whose code went to the Aqd mailbox (development mode only).
MAILBOX_METHOD = "otp:mailbox"

#: The text a signer consents to; its version and SHA-256 go to the contract's events.
CONSENT_VERSION = "2026-11-v1"
CONSENT_TEXT = {
    "fr": (
        "J'ai lu le contrat affiché, dont l'empreinte SHA-256 est indiquée ci-dessus. "
        "Je consens à le signer électroniquement, en mon nom et dans la qualité indiquée, "
        "conformément à la loi n° 2000-83 du 9 août 2000 relative aux échanges et au commerce "
        "électroniques. Je sais que ma signature, son horodatage, mon adresse IP et mon "
        "navigateur sont enregistrés dans l'historique du contrat."
    ),
    "ar": (
        "اطلعت على العقد المعروض، وبصمته SHA-256 مبينة أعلاه. "
        "أوافق على إمضائه إلكترونيا، باسمي وبالصفة المذكورة، طبقا للقانون عدد 83 لسنة 2000 "
        "المؤرخ في 9 أوت 2000 المتعلق بالمبادلات والتجارة الإلكترونية. "
        "أعلم أن إمضائي وختمه الزمني وعنوان IP ومتصفحي تُسجَّل في تاريخ العقد."
    ),
}
CONSENT_SHA256 = hashlib.sha256(
    (CONSENT_VERSION + "\n" + CONSENT_TEXT["fr"] + "\n" + CONSENT_TEXT["ar"]).encode()
).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _code_hash(request_id: int, code: str) -> str:
    return hmac.new(str(request_id).encode(), code.encode(), hashlib.sha256).hexdigest()


class SecondFactorUnavailable(Conflict):
    """The signing code could only reach the signer's Aqd mailbox, outside development mode."""

    code = "second_factor_unavailable"


@dataclass(frozen=True)
class Requested:
    request: SignatureRequest
    token: str | None  # None when the request already existed (idempotent replay)


# -- who is who ---------------------------------------------------------------------------------


def is_party(principal: Principal, party: str, contract: Contract) -> bool:
    """May this principal sign for ``party`` on ``contract``?"""
    if party == "beneficiary":
        return principal.beneficiary_id is not None and (
            principal.beneficiary_id == contract.beneficiary_id
        )
    if party == "employer":
        return principal.employer_id is not None and principal.employer_id == contract.employer_id
    if party == "office":
        return principal.has("office_head") and principal.office_id == contract.office_id
    return False


def signers(session: Session, contract: Contract, party: str) -> list[User]:
    """The active accounts that may sign for ``party`` (they get the link)."""
    query = select(User).where(User.active.is_(True))
    if party == "beneficiary":
        if contract.beneficiary_id is None:
            return []
        query = query.where(User.beneficiary_id == contract.beneficiary_id)
    elif party == "employer":
        if contract.employer_id is None:
            return []
        query = query.where(User.employer_id == contract.employer_id)
    else:
        query = query.join(UserRole, UserRole.user_id == User.id).where(
            UserRole.role == "office_head", User.office_id == contract.office_id
        )
    return list(session.scalars(query.order_by(User.id)))


# -- requests -----------------------------------------------------------------------------------


def document_to_sign(session: Session, contract_id: int, round_: int) -> Document | None:
    """The version the next party of ``round_`` signs: the last signed one of the round, or
    None when the round has no signature yet (signing/ then renders a fresh document)."""
    last = session.scalar(
        select(SignatureRequest)
        .where(
            SignatureRequest.contract_id == contract_id,
            SignatureRequest.round == round_,
            SignatureRequest.status == "signed",
        )
        .order_by(SignatureRequest.id.desc())
        .limit(1)
    )
    if last is None or last.signed_document_id is None:
        return None
    return session.get(Document, last.signed_document_id)


def existing(session: Session, key: str) -> SignatureRequest | None:
    return session.scalar(select(SignatureRequest).where(SignatureRequest.idempotency_key == key))


def create_request(
    aqd: Aqd,
    session: Session,
    *,
    contract_id: int,
    key: str,
    party: str,
    round_: int,
    rendered: bytes | None,
    public_url: str,
) -> Requested:
    """Open the request for one party's signing step, bound to the document it signs.

    ``rendered`` is the freshly rendered contract for the round's first signature (None for
    the next parties, who sign the version the previous one produced)."""
    found = existing(session, key)
    if found is not None:
        return Requested(found, None)
    if party not in SIGNING_PARTIES:
        raise InvalidInput(f"unknown signing party {party!r}", fields={"party": party})
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    now = aqd.clock.now()
    document = document_to_sign(session, contract_id, round_)
    if document is None:
        if rendered is None:
            raise InvalidInput("the round's first signature needs a rendered document")
        document = Document(
            contract_id=contract_id,
            kind="contract",
            filename=f"{contract.number}-r{round_}.pdf",
            content_type="application/pdf",
            size=len(rendered),
            sha256=hashlib.sha256(rendered).hexdigest(),
            content=rendered,
            uploaded_by="system",
            uploaded_at=now,
        )
        session.add(document)
        session.flush()
    # Older rounds' open requests can no longer be used.
    session.execute(
        update(SignatureRequest)
        .where(
            SignatureRequest.contract_id == contract_id,
            SignatureRequest.round < round_,
            SignatureRequest.status.in_(OPEN),
        )
        .values(
            status="superseded", closed_reason="re-issued", revision=SignatureRequest.revision + 1
        )
    )
    token = secrets.token_urlsafe(32)
    request = SignatureRequest(
        contract_id=contract_id,
        idempotency_key=key[:200],
        round=round_,
        party=party,
        document_id=document.id,
        document_sha256=document.sha256,
        token_hash=token_hash(token),
        status="open",
        created_at=now,
        expires_at=now + timedelta(days=LINK_DAYS),
        code_attempts=0,
        codes_sent=0,
        revision=1,
    )
    session.add(request)
    session.flush()
    aqd.record_event(
        session,
        contract_id,
        "signature_requested",
        {
            "request": request.id,
            "party": party,
            "round": round_,
            "document_id": document.id,
            "document_sha256": document.sha256,
            "expires_at": request.expires_at.isoformat(),
        },
        "system",
    )
    programme = session.scalar(
        select(ProcessDefinition.programme).where(ProcessDefinition.id == contract.definition_id)
    )
    _notify_all(
        session,
        signers(session, contract, party),
        key=f"{key}:link",
        template="signature_requested",
        params={
            "contract": contract.number,
            "programme": (programme or "").upper(),
            "party": party,
            "expires": request.expires_at.date().isoformat(),
            "link": f"{public_url.rstrip('/')}/sign/{token}",
            "sha256": document.sha256,
        },
        now=now,
        contract_id=contract_id,
    )
    return Requested(request, token)


def _notify_all(
    session: Session,
    users: Iterable[User],
    *,
    key: str,
    template: str,
    params: dict[str, Any],
    now: datetime,
    contract_id: int,
) -> int:
    """One message per user, each in their language; returns how many were new."""
    sent = 0
    for user in users:
        if notify(
            session,
            key=f"{key}:{user.username}",
            recipient=user.username,
            locale=user.locale,
            template=template,
            params=params,
            now=now,
            contract_id=contract_id,
        ):
            sent += 1
    return sent


def _by_token(session: Session, token: str) -> tuple[SignatureRequest, Contract]:
    request = session.scalar(
        select(SignatureRequest).where(SignatureRequest.token_hash == token_hash(token))
    )
    if request is None:
        raise NotFound("this signing link is unknown or was replaced by a newer one")
    contract = session.get(Contract, request.contract_id)
    if contract is None:
        raise NotFound(f"the contract of signature request {request.id} no longer exists")
    return request, contract


_LATER: ContextVar[list[Callable[[Session], None]] | None] = ContextVar(
    "aqd_signing_later", default=None
)


@contextmanager
def ceremony(aqd: Aqd) -> Iterator[Session]:
    """One ceremony step in one transaction. Facts that must survive its refusal (a link used by
    the wrong party, a wrong code) are written after the rollback, in their own transaction."""
    later: list[Callable[[Session], None]] = []
    token = _LATER.set(later)
    try:
        with aqd.session() as session, session.begin():
            yield session
    except Exception:
        for record in later:
            with aqd.session() as s, s.begin():
                record(s)
        raise
    finally:
        _LATER.reset(token)


def _after_refusal(record: Callable[[Session], None]) -> None:
    later = _LATER.get()
    if later is None:
        raise RuntimeError("ceremony steps run inside signature_requests.ceremony()")
    later.append(record)


def _refuse(aqd: Aqd, request: SignatureRequest, principal: Principal, why: str) -> None:
    payload = {"request": request.id, "party": request.party, "reason": why}
    contract_id, actor = request.contract_id, principal.username

    def record(s: Session) -> None:
        aqd.record_event(s, contract_id, "signature_refused", payload, actor)

    _after_refusal(record)


def open_request(
    aqd: Aqd, session: Session, token: str, principal: Principal
) -> tuple[SignatureRequest, Contract]:
    """The request behind a link, if this principal may use it now."""
    request, contract = _by_token(session, token)
    if not is_party(principal, request.party, contract):
        _refuse(aqd, request, principal, "wrong party")
        raise NotPermitted(f"this link is for the {request.party}, not for you")
    if request.status in {"consented", "signed"}:
        raise Conflict("this signing link was already used")
    if request.status not in OPEN:
        raise Conflict(f"this signature request is {request.status}")
    if request.expires_at <= aqd.clock.now():
        _refuse(aqd, request, principal, "expired link")
        raise Conflict("this signing link has expired; ask the office for a new one")
    return request, contract


def _guarded(session: Session, request: SignatureRequest, **values: Any) -> None:
    """Move the request on only if nobody else did in between."""
    done = session.execute(
        update(SignatureRequest)
        .where(
            SignatureRequest.id == request.id,
            SignatureRequest.revision == request.revision,
            SignatureRequest.status == request.status,
        )
        .values(revision=request.revision + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise Conflict("this signature request was just used by another session")
    session.expire(request)


#: Why a code is refused when it could only reach the mailbox outside development mode.
NO_SECOND_FACTOR = (
    "a signing code must reach your phone or e-mail address, and none can be used: set them in "
    "your contact details, or ask the office"
)
NO_SECOND_FACTOR_FIELD = "no phone or e-mail address the code can be sent to"
#: Why, when the signer gave a phone or an address that is not verified yet.
NOT_VERIFIED = (
    "a signing code goes only to a verified phone or e-mail address: confirm yours in your "
    "contact details with the codes sent to it, or ask the office to record it"
)
NOT_VERIFIED_FIELD = "your phone or e-mail address is not verified yet"


def send_code(
    aqd: Aqd, session: Session, token: str, principal: Principal
) -> tuple[SignatureRequest, str]:
    """Send a one-time code to the signer: by SMS, else by e-mail (through the outbox and the
    delivery adapters, after commit). A code that could only go to the signer's Aqd mailbox
    is no second factor (the same session reads it): allowed in development mode only, and
    the signature's evidence then says so; in production mode the code is refused."""
    request, contract = open_request(aqd, session, token, principal)
    if request.codes_sent >= MAX_CODES:
        raise TooManyAttempts(
            "too many codes were sent for this request; ask the office", retry_after=86400
        )
    settings = aqd.settings
    user = session.get(User, principal.user_id)
    if user is None:
        raise NotFound("this account no longer exists")
    # only a verified contact: one the holder of the password or token alone cannot set
    target = contacts.signing_contact(session, user, settings)
    channel = target.channel if target is not None else "mailbox"
    if channel == "mailbox" and settings.mode != "development":
        unverified = contacts.has_unverified(session, user)
        why = (
            "no second factor: the signer's phone or e-mail address is not verified"
            if unverified
            else "no second factor: the code could only reach the mailbox"
        )
        _refuse(aqd, request, principal, why)
        raise SecondFactorUnavailable(
            NOT_VERIFIED if unverified else NO_SECOND_FACTOR,
            fields={"channel": NOT_VERIFIED_FIELD if unverified else NO_SECOND_FACTOR_FIELD},
        )
    now = aqd.clock.now()
    code = f"{secrets.randbelow(1_000_000):06d}"
    sent = request.codes_sent + 1
    _guarded(
        session,
        request,
        status="code_sent",
        code_hash=_code_hash(request.id, code),
        code_expires_at=now + timedelta(minutes=CODE_MINUTES),
        code_attempts=0,
        codes_sent=sent,
    )
    notify(
        session,
        key=f"{request.idempotency_key}:code:{sent}",
        recipient=principal.username,
        locale=principal.locale,
        template="signature_code",
        params={"contract": contract.number, "code": code, "minutes": CODE_MINUTES},
        now=now,
        contract_id=contract.id,
        contact=(user.email, user.phone),
        channel=channel,
        address=target.address if target is not None else None,
    )
    evidence: dict[str, Any] = {
        "request": request.id,
        "party": request.party,
        "method": _code_method(session, request.idempotency_key, sent),
        "mode": settings.mode,
        "n": sent,
    }
    if target is not None:  # which verified contact, and when and how it was verified
        evidence["contact"] = target.evidence()
    aqd.record_event(session, contract.id, "signature_code_sent", evidence, principal.username)
    session.refresh(request)
    return request, code


def code_channel(session: Session, request: SignatureRequest) -> str:
    """How the latest one-time code of ``request`` was sent: ``sms``, ``email`` or
    ``mailbox`` (so the page tells the signer where to look)."""
    return _code_method(session, request.idempotency_key, request.codes_sent).removeprefix("otp:")


def _code_method(session: Session, key: str, n: int) -> str:
    """How the n-th one-time code of a request reached the signer (``otp:sms``,
    ``otp:email`` or ``otp:mailbox``)."""
    channel = session.scalar(
        select(Notification.channel).where(Notification.idempotency_key == f"{key}:code:{n}")
    )
    return f"otp:{channel or 'mailbox'}"


def consent(
    aqd: Aqd,
    session: Session,
    token: str,
    principal: Principal,
    *,
    code: str,
    accepted: bool,
    consent_version: str,
    document_sha256: str,
    client_ip: str,
    user_agent: str,
) -> SignatureRequest:
    """The signer's consent: checks the code, the consent and the exact document, consumes the
    link, and queues the signature (``signing.apply``) in the same transaction."""
    request, contract = open_request(aqd, session, token, principal)
    now = aqd.clock.now()
    fields: dict[str, str] = {}
    if not accepted:
        fields["consent"] = "you must accept the consent text to sign"
    if consent_version != CONSENT_VERSION:
        fields["consent_version"] = f"the consent text changed (now {CONSENT_VERSION}); reload"
    if fields:
        raise InvalidInput("the consent is missing", fields=fields)
    if request.status != "code_sent" or request.code_hash is None:
        raise InvalidInput("ask for a code first", fields={"code": "no code was sent"})
    if request.code_attempts >= MAX_CODE_ATTEMPTS:
        raise TooManyAttempts("too many wrong codes; ask for a new code", retry_after=60)
    if request.code_expires_at is None or request.code_expires_at <= now:
        raise InvalidInput("the code has expired", fields={"code": "expired; ask for a new one"})
    if not hmac.compare_digest(request.code_hash, _code_hash(request.id, code.strip())):
        request_id = request.id

        def count_attempt(s: Session) -> None:  # it counts even though the step is refused
            s.execute(
                update(SignatureRequest)
                .where(SignatureRequest.id == request_id)
                .values(code_attempts=SignatureRequest.code_attempts + 1)
            )

        _after_refusal(count_attempt)
        raise InvalidInput("wrong code", fields={"code": "wrong code"})
    # The signer consents to what they saw: the page's hash, the request's hash and the
    # stored bytes must all be the same document.
    stored = session.get(Document, request.document_id)
    actual = hashlib.sha256(stored.content).hexdigest() if stored is not None else ""
    if document_sha256 != request.document_sha256 or actual != request.document_sha256:
        _refuse(aqd, request, principal, "document changed since the request")
        raise Conflict(
            "the document changed since this signature was requested; nothing was signed",
            fields={"document_sha256": document_sha256},
        )
    method = _code_method(session, request.idempotency_key, request.codes_sent)
    _guarded(
        session,
        request,
        status="consented",
        signer_username=principal.username,
        consent_version=CONSENT_VERSION,
        consent_sha256=CONSENT_SHA256,
        consented_at=now,
        client_ip=client_ip[:64],
        user_agent=user_agent[:300],
    )
    aqd.record_event(
        session,
        contract.id,
        "signature_consented",
        {
            "request": request.id,
            "party": request.party,
            "round": request.round,
            "signer": principal.username,
            "signer_name": principal.display_name,
            "document_sha256": request.document_sha256,
            "consent_version": CONSENT_VERSION,
            "consent_sha256": CONSENT_SHA256,
            "method": method,
            "second_factor": method != MAILBOX_METHOD,
            "mode": aqd.settings.mode,
            "ip": client_ip[:64],
            "user_agent": user_agent[:300],
            "at": now.isoformat(),
        },
        principal.username,
    )
    enqueue(
        session,
        contract_id=contract.id,
        kind=APPLY_KIND,
        key=f"{APPLY_KIND}:{request.id}",
        payload={"request": request.id},
        now=now,
    )
    session.refresh(request)
    return request


def decline(
    aqd: Aqd,
    session: Session,
    token: str,
    principal: Principal,
    reason: str,
    client_ip: str,
    user_agent: str,
) -> SignatureRequest:
    """The party refuses to sign; the BPMN sends it to the counsellor for review."""
    if not reason.strip():
        raise InvalidInput("a reason is required", fields={"reason": "required"})
    request, contract = open_request(aqd, session, token, principal)
    _guarded(session, request, status="declined", closed_reason=reason.strip()[:1000])
    aqd.record_event(
        session,
        contract.id,
        "signature_declined",
        {
            "request": request.id,
            "party": request.party,
            "reason": reason.strip()[:1000],
            "ip": client_ip[:64],
            "user_agent": user_agent[:300],
        },
        principal.username,
    )
    aqd.correlate_message(
        session,
        contract.id,
        "signature_result",
        signature_result(request.party, "declined", decline_reason=reason.strip()[:1000]),
        principal.username,
    )
    counsellors = session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            UserRole.role == "counsellor",
            User.office_id == contract.office_id,
            User.active.is_(True),
        )
    )
    _notify_all(
        session,
        counsellors,
        key=f"{request.idempotency_key}:declined",
        template="signature_declined",
        params={
            "contract": contract.number,
            "party": request.party,
            "reason": reason.strip()[:1000],
        },
        now=aqd.clock.now(),
        contract_id=contract.id,
    )
    session.refresh(request)
    return request


def rotate_link(
    aqd: Aqd, session: Session, request_id: int, principal: Principal
) -> tuple[SignatureRequest, str]:
    """A fresh link for the signer who opens their request from the portal (the mailed link
    stops working: one live link per request)."""
    request = session.get(SignatureRequest, request_id)
    contract = session.get(Contract, request.contract_id) if request is not None else None
    if request is None or contract is None or not is_party(principal, request.party, contract):
        raise NotFound(f"signature request {request_id} not found")
    if request.status not in OPEN:
        raise Conflict(f"this signature request is {request.status}")
    token = secrets.token_urlsafe(32)
    now = aqd.clock.now()
    _guarded(
        session,
        request,
        token_hash=token_hash(token),
        expires_at=max(request.expires_at, now + timedelta(days=1)),
    )
    aqd.record_event(
        session,
        contract.id,
        "signature_link_reissued",
        {"request": request.id, "party": request.party},
        principal.username,
    )
    session.refresh(request)
    return request, token


# -- the worker's side --------------------------------------------------------------------------


@dataclass(frozen=True)
class ToSign:
    request_id: int
    contract_id: int
    contract_number: str
    party: str
    round: int
    status: str
    signer: str
    signer_name: str
    #: the verified identity the signer's certificate carries (:func:`signer_identity`)
    identity: SignerIdentity
    #: how the one-time code reached the signer (``otp:sms``, ``otp:email``, ``otp:mailbox``)
    method: str
    document: bytes
    document_sha256: str
    signed_document_sha256: str | None


@dataclass(frozen=True)
class SignerIdentity:
    """Who a signature's certificate names, from the records the office keeps (never a display
    name someone typed): a beneficiary by the job-seeker registry's legal name and national
    identity number (CIN); an employer by the company's registered name and tax number
    (matricule fiscal); the office by its office head's account and the office."""

    common_name: str
    role: str
    #: X.509 serialNumber: the natural person's identifier (ETSI EN 319 412-1: ``IDCTN-<CIN>``)
    serial_number: str = ""
    #: X.509 organizationName
    organization: str = ""
    #: X.509 organizationIdentifier (ETSI EN 319 412-1: ``VATTN-<matricule fiscal>``)
    organization_identifier: str = ""


def signer_identity(
    session: Session, contract: Contract, party: str, signer: User | None
) -> SignerIdentity:
    if party == "beneficiary" and contract.beneficiary_id is not None:
        person = session.get(Beneficiary, contract.beneficiary_id)
        if person is not None:
            return SignerIdentity(
                common_name=f"{person.first_name} {person.last_name}".strip(),
                role="beneficiary",
                serial_number=f"IDCTN-{person.cin}",
            )
    if party == "employer" and contract.employer_id is not None:
        company = session.get(Employer, contract.employer_id)
        if company is not None:
            return SignerIdentity(
                common_name=company.name,
                role="employer",
                organization=company.name,
                organization_identifier=f"VATTN-{company.matricule_fiscal}",
            )
    if party == "office":
        office = session.get(Office, contract.office_id)
        name = signer.display_name if signer is not None else "ANETI"
        return SignerIdentity(
            common_name=name, role="agency seal", organization=office.name_fr if office else ""
        )
    raise Conflict(f"the {party} of contract {contract.number} has no record to sign with")


def to_sign(session: Session, request_id: int) -> ToSign:
    request = session.get(SignatureRequest, request_id)
    if request is None:
        raise NotFound(f"signature request {request_id} not found")
    contract = session.get(Contract, request.contract_id)
    document = session.get(Document, request.document_id)
    if contract is None or document is None:
        raise NotFound(f"the contract or document of signature request {request_id} is gone")
    signer = session.scalar(select(User).where(User.username == request.signer_username))
    signed = (
        session.get(Document, request.signed_document_id)
        if request.signed_document_id is not None
        else None
    )
    return ToSign(
        request_id=request.id,
        contract_id=contract.id,
        contract_number=contract.number,
        party=request.party,
        round=request.round,
        status=request.status,
        signer=request.signer_username or "",
        signer_name=signer.display_name if signer is not None else (request.signer_username or ""),
        identity=signer_identity(session, contract, request.party, signer),
        method=_code_method(session, request.idempotency_key, request.codes_sent),
        document=document.content,
        document_sha256=request.document_sha256,
        signed_document_sha256=signed.sha256 if signed is not None else None,
    )


def record_signed(
    aqd: Aqd, session: Session, request_id: int, signed_pdf: bytes, certificate: str
) -> bool:
    """Store the signed version and move the BPMN on; False if it was already recorded."""
    request = session.get(SignatureRequest, request_id)
    if request is None:
        raise NotFound(f"signature request {request_id} not found")
    if request.status == "signed":
        return False
    if request.status != "consented":
        raise Conflict(f"signature request {request_id} is {request.status}, not consented")
    contract = session.get(Contract, request.contract_id)
    if contract is None:
        raise NotFound(f"the contract of signature request {request_id} no longer exists")
    now = aqd.clock.now()
    digest = hashlib.sha256(signed_pdf).hexdigest()
    method = _code_method(session, request.idempotency_key, request.codes_sent)
    document = Document(
        contract_id=contract.id,
        kind="contract_signed",
        filename=f"{contract.number}-r{request.round}-{request.party}.pdf",
        content_type="application/pdf",
        size=len(signed_pdf),
        sha256=digest,
        content=signed_pdf,
        uploaded_by=request.signer_username or "system",
        uploaded_at=now,
    )
    session.add(document)
    session.flush()
    _guarded(session, request, status="signed", signed_at=now, signed_document_id=document.id)
    aqd.record_event(
        session,
        contract.id,
        "signature_applied",
        {
            "request": request.id,
            "party": request.party,
            "round": request.round,
            "signer": request.signer_username,
            "certificate": certificate,
            "signed_document_id": document.id,
            "signed_document_sha256": digest,
            "previous_sha256": request.document_sha256,
            "method": method,
            "second_factor": method != MAILBOX_METHOD,
        },
        "worker",
    )
    aqd.correlate_message(
        session,
        contract.id,
        "signature_result",
        signature_result(request.party, "signed", document_sha256=digest),
        "worker",
    )
    if request.party == SIGNING_PARTIES[-1]:  # the last signature: tell every party
        link = f"{aqd.settings.public_url.rstrip('/')}/contracts/{contract.number}"
        everyone = [u for party in SIGNING_PARTIES for u in signers(session, contract, party)]
        _notify_all(
            session,
            everyone,
            key=f"{request.idempotency_key}:signed",
            template="contract_signed",
            params={"contract": contract.number, "link": f"{link}/documents/signed.pdf"},
            now=now,
            contract_id=contract.id,
        )
    return True


def record_failed(aqd: Aqd, session: Session, request_id: int, reason: str) -> None:
    """The signature could not be applied (e.g. the document changed): the request fails, the
    BPMN is told the step was declined so the counsellor reviews and re-issues."""
    request = session.get(SignatureRequest, request_id)
    if request is None or request.status in ("signed", "failed"):
        return
    _guarded(session, request, status="failed", closed_reason=reason[:1000])
    aqd.record_event(
        session,
        request.contract_id,
        "signature_failed",
        {"request": request.id, "party": request.party, "reason": reason[:1000]},
        "worker",
    )
    aqd.correlate_message(
        session,
        request.contract_id,
        "signature_result",
        signature_result(request.party, "declined", decline_reason=reason[:1000]),
        "worker",
    )


def close_open(aqd: Aqd, session: Session, contract_id: int, reason: str) -> int:
    """Expire every open request of a contract (the BPMN's signature deadline passed)."""
    rows = list(
        session.scalars(
            select(SignatureRequest).where(
                SignatureRequest.contract_id == contract_id, SignatureRequest.status.in_(OPEN)
            )
        )
    )
    for request in rows:
        _guarded(session, request, status="expired", closed_reason=reason[:1000])
    aqd.record_event(
        session,
        contract_id,
        "signatures_closed",
        {"reason": reason[:1000], "requests": [r.id for r in rows]},
        "system",
    )
    return len(rows)


def remind(
    aqd: Aqd, session: Session, contract_id: int, party: str, round_: int, public_url: str
) -> int:
    """Remind the party's signers of their open request; returns how many were reminded."""
    request = session.scalar(
        select(SignatureRequest).where(
            SignatureRequest.contract_id == contract_id,
            SignatureRequest.round == round_,
            SignatureRequest.party == party,
        )
    )
    contract = session.get(Contract, contract_id)
    if request is None or contract is None or request.status not in OPEN:
        return 0
    now = aqd.clock.now()
    return _notify_all(
        session,
        signers(session, contract, party),
        key=f"{request.idempotency_key}:reminder",
        template="signature_reminder",
        params={
            "contract": contract.number,
            "party": party,
            "link": f"{public_url.rstrip('/')}/me/signatures",
        },
        now=now,
        contract_id=contract_id,
    )


# -- reads --------------------------------------------------------------------------------------


def _as_dict(request: SignatureRequest, number: str) -> dict[str, Any]:
    return {
        "id": request.id,
        "contract": number,
        "contract_id": request.contract_id,
        "party": request.party,
        "round": request.round,
        "status": request.status,
        "document_id": request.document_id,
        "document_sha256": request.document_sha256,
        "created_at": request.created_at,
        "expires_at": request.expires_at,
        "signer": request.signer_username,
        "consented_at": request.consented_at,
        "signed_at": request.signed_at,
        "signed_document_id": request.signed_document_id,
        "closed_reason": request.closed_reason,
    }


def pending_for(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The open requests this principal may sign (their portal's "to sign" list)."""
    query = (
        select(SignatureRequest, Contract)
        .join(Contract, Contract.id == SignatureRequest.contract_id)
        .where(SignatureRequest.status.in_(OPEN))
    )
    clauses = []
    if principal.beneficiary_id is not None:
        clauses.append(
            (SignatureRequest.party == "beneficiary")
            & (Contract.beneficiary_id == principal.beneficiary_id)
        )
    if principal.employer_id is not None:
        clauses.append(
            (SignatureRequest.party == "employer") & (Contract.employer_id == principal.employer_id)
        )
    if principal.has("office_head") and principal.office_id is not None:
        clauses.append(
            (SignatureRequest.party == "office") & (Contract.office_id == principal.office_id)
        )
    if not clauses:
        return []
    condition = clauses[0]
    for clause in clauses[1:]:
        condition = condition | clause
    rows = session.execute(query.where(condition).order_by(SignatureRequest.id)).all()
    return [_as_dict(r, c.number) for r, c in rows]


def requests_of(session: Session, contract_id: int) -> list[dict[str, Any]]:
    """A contract's signature requests, oldest first (its detail page and the auditors)."""
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    rows = session.scalars(
        select(SignatureRequest)
        .where(SignatureRequest.contract_id == contract_id)
        .order_by(SignatureRequest.id)
    )
    return [_as_dict(r, contract.number) for r in rows]


def document_of(session: Session, request: SignatureRequest) -> Document:
    document = session.get(Document, request.document_id)
    if document is None:
        raise NotFound("document not found")
    return document


def find_documents_by_hash(session: Session, sha256: str) -> list[dict[str, Any]]:
    """Which contract documents have exactly these bytes (the verification page's match)."""
    rows = session.execute(
        select(Document, Contract.number)
        .join(Contract, Contract.id == Document.contract_id)
        .where(Document.sha256 == sha256, Document.status == "recorded")
    ).all()
    return [
        {"contract": number, "document_id": d.id, "kind": d.kind, "filename": d.filename}
        for d, number in rows
    ]


def latest_signed(session: Session, contract_id: int) -> Document | None:
    return session.scalar(
        select(Document)
        .where(Document.contract_id == contract_id, Document.kind == "contract_signed")
        .order_by(Document.id.desc())
        .limit(1)
    )


def contract_documents(session: Session, contract_id: int) -> list[Document]:
    """Every contract PDF (rendered and signed versions), oldest first."""
    return list(
        session.scalars(
            select(Document)
            .where(
                Document.contract_id == contract_id,
                Document.kind.in_(("contract", "contract_signed")),
            )
            .order_by(Document.id)
        )
    )
