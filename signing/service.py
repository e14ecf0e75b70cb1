"""The signing side effects, run by the outbox (worker or the embedded in-process relay):

- ``signature_request`` (thrown by each party's signing step): render the contract for the
  round's first signature, then open the party's request bound to the document's SHA-256 and
  mail the signing link;
- ``signing.apply`` (queued by the signer's consent): re-check the document's hash and its
  earlier signatures, sign it with pyHanko (PAdES B-T for persons, B-LTA agency seal for the
  office), then record the signed version, which moves the BPMN on. No database lock is held
  during the cryptography; a second delivery finds the request signed and does nothing;
- ``signature_reminder`` and ``signing_closed`` (BPMN timers): remind, or expire open requests.

Also the verification report anyone can ask for (``verify_pdf``) and the export of a contract's
documents.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from engine import Aqd, Conflict
from engine.access.accounts import Principal
from engine.inbox import contract_terms
from engine.outbox.handlers import HandlerResult, OutboxItem, SideEffectError
from signing import documents, requests
from signing.keys import DevKeySource, Pkcs11Seal, key_source
from signing.pades import (
    SignatureCheck,
    check_timestamp_token,
    sign,
    timestamp_digest,
    verify,
)
from signing.pki import Identity, Subject

#: The worker reads contracts as this principal (read-only, every office).
SYSTEM = Principal(
    user_id=0,
    username="system",
    display_name="Aqd",
    locale="fr",
    roles=frozenset({"auditor"}),
)
REASONS = {
    "beneficiary": "Signature du bénéficiaire / إمضاء المنتفع",
    "employer": "Signature de l'employeur / إمضاء المؤجر",
    "office": "Approbation et cachet de l'ANETI / مصادقة وختم الوكالة",
}

#: Added to the reason of a signature whose one-time code went to the Aqd mailbox (development
#: mode only): the PDF itself says it was made without a second factor.
MAILBOX_NOTE = (
    "code reçu dans la messagerie Aqd, sans second facteur (mode développement) / "
    "رمز مستلم في صندوق رسائل عقد، دون عامل ثانٍ (وضع التطوير)"
)


def keys_for(aqd: Aqd) -> DevKeySource:
    s = aqd.settings
    return key_source(
        s.var_dir,
        seal_p12=s.signing_seal_p12,
        seal_password=s.signing_seal_password.get_secret_value(),
        trust_roots=s.signing_trust_roots,
        tsa_url=s.signing_tsa_url,
        crls=s.signing_crls,
        pkcs11=Pkcs11Seal(
            s.signing_pkcs11_module,
            s.signing_pkcs11_token,
            s.signing_pkcs11_pin.get_secret_value(),
            s.signing_pkcs11_label,
        )
        if s.signing_pkcs11_module is not None
        else None,
    )


def _public_url(aqd: Aqd) -> str:
    return aqd.settings.public_url


# -- handlers -----------------------------------------------------------------------------------


def handle_request(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    if item.contract_id is None:
        raise SideEffectError("a signature request needs a contract", retryable=False)
    party = str(item.payload.get("party", ""))
    round_ = int(item.payload.get("round") or 1)
    with aqd.session() as s:
        found = requests.existing(s, item.idempotency_key)
        if found is not None:
            return HandlerResult({"request": found.id, "document_sha256": found.document_sha256})
        rendered = None
        if requests.document_to_sign(s, item.contract_id, round_) is None:
            terms = contract_terms(aqd, s, SYSTEM, item.contract_id)
            rendered = documents.render(terms).pdf  # no transaction open while rendering
    with aqd.session() as s, s.begin():
        made = requests.create_request(
            aqd,
            s,
            contract_id=item.contract_id,
            key=item.idempotency_key,
            party=party,
            round_=round_,
            rendered=rendered,
            public_url=_public_url(aqd),
        )
        return HandlerResult(
            {"request": made.request.id, "document_sha256": made.request.document_sha256}
        )


def handle_apply(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    request_id = int(item.payload["request"])
    with aqd.session() as s:
        job = requests.to_sign(s, request_id)
    if job.status == "signed":
        return HandlerResult({"request": request_id, "duplicate": True})
    if job.status != "consented":
        raise SideEffectError(f"request {request_id} is {job.status}", retryable=False)
    keys = keys_for(aqd)
    problem = _unsafe_to_sign(job.document, job.document_sha256, keys)
    if problem:
        with aqd.session() as s, s.begin():
            requests.record_failed(aqd, s, request_id, problem)
        return HandlerResult({"request": request_id, "refused": problem})
    who = job.identity
    identity = keys.signer_for(
        job.party,
        Subject(
            common_name=who.common_name,
            role=who.role,
            serial_number=who.serial_number,
            organization=who.organization,
            organization_identifier=who.organization_identifier,
        ),
    )
    reason = REASONS.get(job.party, job.party)
    if job.method == requests.MAILBOX_METHOD:  # said in the signature itself, not only the log
        reason += f" — {MAILBOX_NOTE}"
    signed = sign(
        job.document,
        job.party,
        identity,
        keys.pki,
        reason=reason,
        long_term=job.party == "office",
    )
    cert = identity.cert if isinstance(identity, Identity) else identity.signing_cert
    certificate = str(cert.subject.human_friendly) if cert is not None else ""
    try:
        with aqd.session() as s, s.begin():
            recorded = requests.record_signed(aqd, s, request_id, signed, certificate)
    except Conflict:
        recorded = False  # another delivery recorded it first
    return HandlerResult(
        {
            "request": request_id,
            "party": job.party,
            "signed_sha256": hashlib.sha256(signed).hexdigest(),
            "duplicate": not recorded,
        }
    )


def _unsafe_to_sign(pdf: bytes, bound_sha256: str, keys: DevKeySource) -> str:
    """Why this document must not be signed ('' if it may)."""
    if hashlib.sha256(pdf).hexdigest() != bound_sha256:
        return "the document's bytes differ from the version the signer consented to"
    for check in verify(pdf, keys.pki):
        if not check.ok:
            return f"an earlier signature ({check.field}) does not validate"
    return ""


def handle_reminder(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    if item.contract_id is None:
        return HandlerResult({"reminded": 0})
    with aqd.session() as s, s.begin():
        count = requests.remind(
            aqd,
            s,
            item.contract_id,
            str(item.payload.get("party", "")),
            int(item.payload.get("round") or 1),
            _public_url(aqd),
        )
    return HandlerResult({"reminded": count})


def handle_closed(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    if item.contract_id is None:
        return HandlerResult({"closed": 0})
    with aqd.session() as s, s.begin():
        count = requests.close_open(
            aqd, s, item.contract_id, str(item.payload.get("reason", "closed"))
        )
    return HandlerResult({"closed": count})


def signed_document_problem(aqd: Aqd, pdf: bytes) -> str | None:
    """Why a stored signed version of a contract does not validate (None if it does): a
    contract's verification runs this on each of its signed PDFs."""
    try:
        checks = verify(pdf, keys_for(aqd).pki)
    except Exception as exc:  # a damaged file is a verdict, not a crash
        return f"its signatures cannot be read ({type(exc).__name__})"
    if not checks:
        return "it carries no signature"
    bad = [c for c in checks if not c.ok]
    if bad:
        c = bad[0]
        why = "altered" if not c.intact else "not valid" if not c.valid else "not trusted"
        return f"signature {c.field} ({c.signer or c.kind}) is {why}"
    return None


# -- anchors of the hash chains ------------------------------------------------------------------

#: How an anchor names the development TSA (its key is on this server: no proof against it).
DEV_TSA = "Aqd development TSA (this server)"


def stamp_anchor(aqd: Aqd, digest: bytes) -> tuple[bytes, str]:
    """A time-stamp token over an anchor's root, and the TSA that gave it."""
    pki = keys_for(aqd).pki
    return timestamp_digest(digest, pki), pki.tsa_url or DEV_TSA


def check_anchor_token(aqd: Aqd, token: bytes, digest: bytes) -> tuple[datetime | None, str | None]:
    """When ``token`` says the root existed, and what is wrong with it (None: valid)."""
    checked = check_timestamp_token(token, digest, keys_for(aqd).pki)
    return checked.stamped_at, checked.problem


# -- verification -------------------------------------------------------------------------------


def _check_dict(check: SignatureCheck) -> dict[str, Any]:
    out = asdict(check)
    out["signed_at"] = check.signed_at.isoformat() if check.signed_at else None
    return out


def verify_pdf(aqd: Aqd, pdf: bytes) -> dict[str, Any]:
    """The report anyone gets for a PDF: each signature (signer, time, integrity, trust,
    coverage/modifications) and whether these exact bytes are a contract document of Aqd."""
    sha = hashlib.sha256(pdf).hexdigest()
    try:
        checks = verify(pdf, keys_for(aqd).pki)
        error = ""
    except Exception as exc:  # a damaged or non-PDF upload is a verdict, not a crash
        checks, error = [], f"{type(exc).__name__}: {exc}"[:300]
    with aqd.session() as s:
        matches = requests.find_documents_by_hash(s, sha)
    signatures = [_check_dict(c) for c in checks]
    return {
        "sha256": sha,
        "size": len(pdf),
        "signatures": signatures,
        "valid": bool(signatures) and all(c["ok"] for c in signatures) and not error,
        "error": error,
        "matches": matches,
    }


def export_documents(aqd: Aqd, contract_id: int, directory: Path) -> list[Path]:
    """Write a contract's documents (every rendered and signed version) to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with aqd.session() as s:
        for doc in requests.contract_documents(s, contract_id):
            path = directory / doc.filename
            path.write_bytes(doc.content)
            written.append(path)
    return written
