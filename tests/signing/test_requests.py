"""Signature requests and the ceremony, end to end on real pyHanko signatures with the dev CA:
the BPMN asks each party in turn, the party consents with a one-time code, the worker signs,
the contract activates; and every way of cheating the ceremony is refused."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from api import bootstrap
from engine import Conflict, InvalidInput, NotFound, NotPermitted, TooManyAttempts
from engine.access.accounts import Principal, create_user, principal_of
from engine.audit.replay import replay_contract
from engine.models import (
    Contract,
    Document,
    Event,
    HumanTask,
    Notification,
    SignatureRequest,
)
from engine.outbox import runner as outbox
from signing import requests, service
from signing.pades import verify
from tests.conftest import AGREEMENT, World

USERS = {
    "amira": ("beneficiary", "Amira Ben Salah"),
    "acme.hr": ("employer", "ACME RH"),
    "head.tun": ("office_head", "Chef de bureau Tunis"),
    "counsellor.tun": ("counsellor", "Conseiller Tunis"),
}
UA = "Mozilla/5.0 (test)"


@pytest.fixture
def signing_world(world: World, tmp_path: Path) -> World:
    world.aqd.settings.var_dir = tmp_path  # the dev CA is created here on first use
    world.aqd.plugins = bootstrap.plugins()  # the application's: signing's plug-ins too
    return world


def setup_contract(world: World) -> int:
    cid = world.start()
    with world.aqd.session() as s, s.begin():
        contract = s.get(Contract, cid)
        assert contract is not None
        assert contract.beneficiary_id is not None and contract.employer_id is not None
        for username, (role, name) in USERS.items():
            create_user(
                s,
                username,
                None,
                [role],
                world.clock.now(),
                display_name=name,
                office_id=contract.office_id if role in ("office_head", "counsellor") else None,
                employer_id=contract.employer_id if role == "employer" else None,
                beneficiary_id=contract.beneficiary_id if role == "beneficiary" else None,
            )
    world.complete(cid, "employer_agreement", AGREEMENT)
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    drain(world)
    return cid


def drain(world: World) -> None:
    for _ in range(20):
        if outbox.run_once(world.aqd).claimed == 0:
            return
    raise AssertionError("the outbox does not settle")


def who(world: World, username: str) -> Principal:
    from engine.models import User

    with world.aqd.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        return principal_of(s, user)


def mailbox_link(world: World, username: str) -> str:
    with world.aqd.session() as s:
        bodies = s.scalars(
            select(Notification.body)
            .where(
                Notification.recipient == username,
                Notification.template == "signature_requested",
            )
            .order_by(Notification.id.desc())
        ).all()
    assert bodies, f"no signing link for {username}"
    found = re.search(r"/sign/([A-Za-z0-9_-]+)", bodies[0])
    assert found is not None
    return found.group(1)


def ask_code(world: World, token: str, username: str) -> tuple[str, str]:
    """Send the code; return it (read from the user's mailbox) and the document's hash."""
    with requests.ceremony(world.aqd) as s:
        request, code = requests.send_code(world.aqd, s, token, who(world, username))
        sha = request.document_sha256
    with world.aqd.session() as s:
        body = s.scalar(
            select(Notification.body)
            .where(Notification.recipient == username, Notification.template == "signature_code")
            .order_by(Notification.id.desc())
        )
    assert body is not None and code in body
    return code, sha


def consent(world: World, token: str, username: str, code: str, sha: str) -> None:
    with requests.ceremony(world.aqd) as s:
        requests.consent(
            world.aqd,
            s,
            token,
            who(world, username),
            code=code,
            accepted=True,
            consent_version=requests.CONSENT_VERSION,
            document_sha256=sha,
            client_ip="198.51.100.7",
            user_agent=UA,
        )


def sign_as(world: World, username: str) -> None:
    token = mailbox_link(world, username)
    code, sha = ask_code(world, token, username)
    consent(world, token, username, code, sha)
    drain(world)


def status(world: World, cid: int) -> str:
    with world.aqd.session() as s:
        contract = s.get(Contract, cid)
        assert contract is not None
        return contract.status


def final_pdf(world: World, cid: int) -> bytes:
    with world.aqd.session() as s:
        doc = requests.latest_signed(s, cid)
        assert doc is not None
        return doc.content


def test_three_parties_sign_in_order_and_the_contract_activates(
    signing_world: World, tmp_path: Path
) -> None:
    world = signing_world
    cid = setup_contract(world)
    assert status(world, cid) == "awaiting_signature"
    # Only the beneficiary's request exists: the employer's comes after her signature.
    with world.aqd.session() as s:
        assert [r["party"] for r in requests.requests_of(s, cid)] == ["beneficiary"]
    sign_as(world, "amira")
    sign_as(world, "acme.hr")
    assert status(world, cid) == "awaiting_signature"
    sign_as(world, "head.tun")
    assert status(world, cid) == "active"

    pdf = final_pdf(world, cid)
    checks = verify(pdf, service.keys_for(world.aqd).pki)
    assert [c.field for c in checks if c.kind == "signature"] == [
        "beneficiary",
        "employer",
        "office",
    ]
    assert any(c.kind == "timestamp" for c in checks)  # the seal is B-LTA
    assert all(c.ok for c in checks), checks
    # the registry's legal name and CIN, not the account's display name ("Amira Ben Salah")
    assert "Common Name: Amira B," in checks[0].signer
    assert "Serial Number: IDCTN-12345678" in checks[0].signer

    with world.aqd.session() as s:
        consented = s.scalars(
            select(Event.payload).where(
                Event.contract_id == cid, Event.kind == "signature_consented"
            )
        ).all()
        reqs = requests.requests_of(s, cid)
    assert [e["party"] for e in consented] == ["beneficiary", "employer", "office"]
    assert all(
        e["consent_sha256"] == requests.CONSENT_SHA256
        and e["ip"] == "198.51.100.7"
        and e["user_agent"] == UA
        and e["method"] == "otp:mailbox"
        for e in consented
    )
    # Each party signed exactly the version the previous one produced.
    assert [r["status"] for r in reqs] == ["signed"] * 3
    assert reqs[1]["document_id"] == reqs[0]["signed_document_id"]
    assert reqs[2]["document_id"] == reqs[1]["signed_document_id"]
    with world.aqd.session() as s:
        assert replay_contract(world.aqd, s, cid).ok
        told = s.scalars(
            select(Notification.recipient).where(Notification.template == "contract_signed")
        ).all()
    assert sorted(told) == ["acme.hr", "amira", "head.tun"]

    # Independent check: poppler's pdfsig trusts every signature against the dev root.
    nss = tmp_path / "nss"
    nss.mkdir()
    root = tmp_path / "root.pem"
    root.write_bytes(service.keys_for(world.aqd).root_pem)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "aqd-root", "-t", "CT,C,C", "-i", root],
        check=True,
    )
    signed = tmp_path / "contract.pdf"
    signed.write_bytes(pdf)
    report = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(signed)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert report.count("Signature is Valid.") == 3, report
    assert report.count("Certificate is Trusted.") == 3, report

    # The export writes every version, the last one signed by all.
    written = service.export_documents(world.aqd, cid, tmp_path / "export")
    assert len(written) == 4 and written[-1].read_bytes() == pdf


def test_wrong_party_reused_and_expired_links_are_refused(signing_world: World) -> None:
    world = signing_world
    cid = setup_contract(world)
    token = mailbox_link(world, "amira")
    for intruder in ("acme.hr", "head.tun", "counsellor.tun"):
        with pytest.raises(NotPermitted), requests.ceremony(world.aqd) as s:
            requests.send_code(world.aqd, s, token, who(world, intruder))
    with world.aqd.session() as s:
        refused = s.scalars(
            select(Event.payload).where(Event.contract_id == cid, Event.kind == "signature_refused")
        ).all()
    assert [e["reason"] for e in refused] == ["wrong party"] * 3

    code, sha = ask_code(world, token, "amira")
    consent(world, token, "amira", code, sha)
    with pytest.raises(Conflict, match="already used"):
        consent(world, token, "amira", code, sha)
    drain(world)

    # The employer's link expires after LINK_DAYS.
    employer_token = mailbox_link(world, "acme.hr")
    world.clock.advance(days=requests.LINK_DAYS, minutes=1)
    with pytest.raises(Conflict, match="expired"), requests.ceremony(world.aqd) as s:
        requests.send_code(world.aqd, s, employer_token, who(world, "acme.hr"))
    # A link that never existed.
    with pytest.raises(NotFound, match="unknown"), requests.ceremony(world.aqd) as s:
        requests.open_request(world.aqd, s, "not-a-token", who(world, "acme.hr"))


def test_wrong_codes_are_counted_and_then_refused(signing_world: World) -> None:
    world = signing_world
    setup_contract(world)
    token = mailbox_link(world, "amira")
    code, sha = ask_code(world, token, "amira")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(requests.MAX_CODE_ATTEMPTS):
        with pytest.raises(InvalidInput, match="wrong code"):
            consent(world, token, "amira", wrong, sha)
    with pytest.raises(TooManyAttempts):
        consent(world, token, "amira", code, sha)
    # Without accepting the consent text nothing happens either.
    code, sha = ask_code(world, token, "amira")
    with pytest.raises(InvalidInput) as refused, requests.ceremony(world.aqd) as s:
        requests.consent(
            world.aqd,
            s,
            token,
            who(world, "amira"),
            code=code,
            accepted=False,
            consent_version=requests.CONSENT_VERSION,
            document_sha256=sha,
            client_ip="",
            user_agent="",
        )
    assert "consent" in refused.value.fields


def test_a_document_swapped_before_consent_or_before_signing_is_never_signed(
    signing_world: World,
) -> None:
    world = signing_world
    cid = setup_contract(world)
    token = mailbox_link(world, "amira")
    code, sha = ask_code(world, token, "amira")
    with world.aqd.session() as s:
        request = s.scalar(select(SignatureRequest).where(SignatureRequest.contract_id == cid))
        assert request is not None
        doc_id = request.document_id
        original = requests.document_of(s, request).content
    tampered = original.replace(b"/Producer", b"/Producex", 1)
    assert tampered != original

    # Swapped between the request and the consent: refused at consent.
    with world.aqd.session() as s, s.begin():
        s.execute(update(Document).where(Document.id == doc_id).values(content=tampered))
    with pytest.raises(Conflict, match="document changed"):
        consent(world, token, "amira", code, sha)
    # The page showed another hash than the request's: refused too.
    with world.aqd.session() as s, s.begin():
        s.execute(update(Document).where(Document.id == doc_id).values(content=original))
    with pytest.raises(Conflict, match="document changed"):
        consent(world, token, "amira", code, "0" * 64)

    # Swapped after the consent, before the worker signs: the worker refuses, nothing is
    # signed, and the counsellor gets the step back for review.
    consent(world, token, "amira", code, sha)
    with world.aqd.session() as s, s.begin():
        s.execute(update(Document).where(Document.id == doc_id).values(content=tampered))
    drain(world)
    with world.aqd.session() as s:
        request = s.scalar(select(SignatureRequest).where(SignatureRequest.contract_id == cid))
        assert request is not None
        assert request.status == "failed" and request.signed_document_id is None
        assert requests.latest_signed(s, cid) is None
    assert world.task(cid, "review_decline")


def test_two_consents_racing_on_one_request_make_one_signature(
    signing_world: World, db_url: str
) -> None:
    world = signing_world
    cid = setup_contract(world)
    token = mailbox_link(world, "amira")
    code, sha = ask_code(world, token, "amira")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            consent(world, token, "amira", code, sha)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:  # SQLite's writer lock may refuse the loser outright
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    # The worker runs the apply twice (at-least-once delivery): still one signature.
    with world.aqd.session() as s:
        [apply_key] = s.scalars(
            select(SignatureRequest.id).where(SignatureRequest.contract_id == cid)
        ).all()
    item = outbox.claim(world.aqd, kinds=[requests.APPLY_KIND])[0]
    assert outbox.execute(world.aqd, item) == "done"
    assert outbox.execute(world.aqd, item) == "duplicate"
    with world.aqd.session() as s:
        applied = s.scalars(
            select(Event.id).where(Event.contract_id == cid, Event.kind == "signature_applied")
        ).all()
        signed_docs = s.scalars(
            select(Document.id).where(
                Document.contract_id == cid, Document.kind == "contract_signed"
            )
        ).all()
    assert len(applied) == 1 and len(signed_docs) == 1, apply_key


def test_decline_goes_to_the_counsellor_who_reissues_a_new_document(signing_world: World) -> None:
    world = signing_world
    cid = setup_contract(world)
    sign_as(world, "amira")
    token = mailbox_link(world, "acme.hr")
    with pytest.raises(InvalidInput), requests.ceremony(world.aqd) as s:
        requests.decline(world.aqd, s, token, who(world, "acme.hr"), " ", "", "")
    with requests.ceremony(world.aqd) as s:
        requests.decline(
            world.aqd, s, token, who(world, "acme.hr"), "wrong position title", "10.0.0.1", UA
        )
    with world.aqd.session() as s:
        told = s.scalars(
            select(Notification.body).where(
                Notification.recipient == "counsellor.tun",
                Notification.template == "signature_declined",
            )
        ).all()
    assert len(told) == 1 and "wrong position title" in told[0]
    world.complete(
        cid,
        "review_decline",
        {"decline_decision": "reissue", "correction_note": "title corrected"},
    )
    drain(world)
    with world.aqd.session() as s:
        reqs = requests.requests_of(s, cid)
    assert [(r["round"], r["party"], r["status"]) for r in reqs] == [
        (1, "beneficiary", "signed"),
        (1, "employer", "declined"),
        (2, "beneficiary", "open"),
    ]
    assert reqs[2]["document_id"] not in (reqs[0]["document_id"], reqs[0]["signed_document_id"])
    # The old link is dead; the new round is signed by all three.
    with pytest.raises(Conflict), requests.ceremony(world.aqd) as s:
        requests.open_request(world.aqd, s, token, who(world, "acme.hr"))
    for username in ("amira", "acme.hr", "head.tun"):
        sign_as(world, username)
    assert status(world, cid) == "active"
    with world.aqd.session() as s:
        assert replay_contract(world.aqd, s, cid).ok


def test_a_decline_then_reject_refuses_the_contract(signing_world: World) -> None:
    world = signing_world
    cid = setup_contract(world)
    token = mailbox_link(world, "amira")
    with requests.ceremony(world.aqd) as s:
        requests.decline(world.aqd, s, token, who(world, "amira"), "found another job", "", "")
    world.complete(cid, "review_decline", {"decline_decision": "reject"})
    assert status(world, cid) == "rejected"
    with world.aqd.session() as s:
        contract = s.get(Contract, cid)
        assert contract is not None
        open_tasks = s.scalars(
            select(HumanTask.bpmn_id).where(
                HumanTask.contract_id == cid, HumanTask.status == "ready"
            )
        ).all()
    assert open_tasks == []


def test_reminder_then_deadline_closes_the_open_request(signing_world: World) -> None:
    world = signing_world
    cid = setup_contract(world)
    world.clock.advance(days=5, minutes=1)
    assert world.fire(cid)
    drain(world)
    with world.aqd.session() as s:
        templates = s.scalars(
            select(Notification.template).where(Notification.recipient == "amira")
        ).all()
    assert templates == ["signature_requested", "signature_reminder"]
    world.clock.advance(days=9)
    assert world.fire(cid)
    drain(world)
    assert status(world, cid) == "expired"
    with world.aqd.session() as s:
        assert [r["status"] for r in requests.requests_of(s, cid)] == ["expired"]


def test_verification_report_matches_and_detects_tampering(signing_world: World) -> None:
    world = signing_world
    cid = setup_contract(world)
    for username in ("amira", "acme.hr", "head.tun"):
        sign_as(world, username)
    pdf = final_pdf(world, cid)
    report = service.verify_pdf(world.aqd, pdf)
    assert report["valid"] and len(report["signatures"]) == 4
    assert report["matches"][0]["kind"] == "contract_signed"

    flipped = bytearray(pdf)
    flipped[len(pdf) // 3] ^= 0x01
    bad = service.verify_pdf(world.aqd, bytes(flipped))
    assert not bad["valid"] and bad["matches"] == []

    # A signature removed: its /Contents zeroed out.
    start = pdf.index(b"/Contents <") + len(b"/Contents <")
    end = pdf.index(b">", start)
    removed = pdf[:start] + b"0" * (end - start) + pdf[end:]
    assert not service.verify_pdf(world.aqd, removed)["valid"]

    not_pdf = service.verify_pdf(world.aqd, b"hello")
    assert not not_pdf["valid"] and not_pdf["error"]


def signed_package(world: World) -> tuple[int, bytes]:
    """A contract signed by its three parties, and its audit package."""
    from engine.audit.package import build_package

    cid = setup_contract(world)
    for username in ("amira", "acme.hr", "head.tun"):
        sign_as(world, username)
    with world.aqd.session() as s:
        return cid, build_package(s, cid, world.clock.now())


def test_the_audit_package_carries_the_signed_documents(signing_world: World) -> None:
    import hashlib
    import io
    import json
    import zipfile

    from engine.audit.package import canonical_zip, verify_package

    world = signing_world
    cid, package = signed_package(world)
    report = verify_package(package)
    assert report.ok, report.problems
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    docs = sorted(n for n in members if n.startswith("documents/"))
    assert len(docs) == 4 and members[docs[-1]] == final_pdf(world, cid)
    assert service.verify_pdf(world.aqd, members[docs[-1]])["valid"]

    # Swap a signed version for another PDF and fix the manifest: the events still pin it.
    manifest = json.loads(members["manifest.json"])
    forged = members[docs[0]].replace(b"/Producer", b"/Producex", 1)
    members[docs[0]] = forged
    manifest["files"][docs[0]] = hashlib.sha256(forged).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    problems = verify_package(canonical_zip(members)).problems
    assert any("not a document the contract's events recorded" in p for p in problems), problems


def test_an_audit_package_s_signed_versions_are_validated_offline(signing_world: World) -> None:
    """Given the engine's trust settings, verifying a package validates the signatures of the
    versions its signature events recorded. A package forged from a rewritten history (a
    signed version altered, its signature events and the chain in history.json recomputed, the
    manifest rebuilt) is consistent, and fails only there."""
    import hashlib
    import io
    import json
    import zipfile

    from engine.audit.package import canonical_zip, verify_package
    from engine.audit.replay import event_body
    from engine.kernel.contract_state import chain_hash
    from engine.kernel.planning import GENESIS
    from engine.kernel.signature_events import SIGNATURE_EVENT_KINDS

    world = signing_world
    _cid, package = signed_package(world)
    report = verify_package(package, world.aqd)
    assert report.ok and report.signatures_validated == 3, report.to_dict()

    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    history = json.loads(members["history.json"])
    name = sorted(n for n in members if n.startswith("documents/"))[-1]
    old = hashlib.sha256(members[name]).hexdigest()
    forged = bytearray(members[name])
    forged[len(forged) // 2] ^= 0x01
    members[name] = bytes(forged)
    new = hashlib.sha256(members[name]).hexdigest()
    prev = GENESIS
    for ev in history["events"]:
        if ev["kind"] in SIGNATURE_EVENT_KINDS:
            ev["payload"] = json.loads(json.dumps(ev["payload"]).replace(old, new))
        ev["prev_hash"], ev["hash"] = prev, chain_hash(prev, event_body(ev))
        prev = ev["hash"]
    history["contract"]["chain_head"] = prev
    members["history.json"] = json.dumps(history, ensure_ascii=False, indent=1).encode()
    manifest = json.loads(members["manifest.json"])
    manifest["contract"] = history["contract"]
    manifest["files"] = {
        n: hashlib.sha256(data).hexdigest() for n, data in members.items() if n != "manifest.json"
    }
    members["manifest.json"] = json.dumps(manifest).encode()
    consistent = verify_package(canonical_zip(members))  # no trust settings: hashes only
    assert consistent.ok, consistent.problems
    caught = verify_package(canonical_zip(members), world.aqd)
    assert not caught.ok
    assert caught.problems[0].startswith(f"{name}: "), caught.problems


def test_contract_verification_checks_its_stored_documents(signing_world: World) -> None:
    """Verify replays the events and checks every stored document: bytes altered in the
    database fail at the event that recorded them; a document swapped with a matching hash
    column is recorded by no event; the signatures of each signed version are validated; the
    batch verification (hashes computed by the database) catches the alteration too."""
    from engine.audit.verification import verify_contracts
    from engine.models import Document, Event

    world = signing_world
    cid = setup_contract(world)
    for username in ("amira", "acme.hr", "head.tun"):
        sign_as(world, username)
    with world.aqd.session() as s:
        assert replay_contract(world.aqd, s, cid).ok
        doc = requests.latest_signed(s, cid)
        assert doc is not None
        doc_id, original, sha = doc.id, doc.content, doc.sha256
        recorded = min(
            e.seq
            for e in s.scalars(select(Event).where(Event.contract_id == cid))
            if sha in str(e.payload)
        )

    def store(content: bytes, digest: str | None = None) -> None:
        values: dict[str, object] = {"content": content}
        if digest is not None:
            values["sha256"] = digest
        with world.aqd.session() as s, s.begin():
            s.execute(update(Document).where(Document.id == doc_id).values(**values))

    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    store(bytes(flipped))
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, cid)
    assert not report.ok and report.first_divergent_seq == recorded
    assert f"document {doc_id} (contract_signed) was altered" in report.problems[0]
    batch = verify_contracts(world.aqd, [cid])
    assert batch.failed and batch.failed[0]["first_divergent_seq"] == recorded

    import hashlib

    store(bytes(flipped), hashlib.sha256(bytes(flipped)).hexdigest())  # hash column rewritten
    with world.aqd.session() as s:
        report = replay_contract(world.aqd, s, cid)
    assert not report.ok and "recorded by no event" in report.problems[0]

    store(original, sha)
    with world.aqd.session() as s:
        assert replay_contract(world.aqd, s, cid).ok
    # The signature check verification runs on each signed version, on its own.
    assert service.signed_document_problem(world.aqd, original) is None
    problem = service.signed_document_problem(world.aqd, bytes(flipped))
    assert problem is not None
    assert "is altered" in problem or "cannot be read" in problem, problem


def test_only_the_signatures_catch_a_forger_who_rewrites_the_hash_chain(
    signing_world: World,
) -> None:
    """Someone able to write the database swaps a signed version for altered bytes and rewrites
    what pinned the old ones without entering the contract's state: the hash column, the
    signature events that recorded them, and the hash chain from there on. Replay and the hash
    checks cannot tell. The signatures can, since the forger cannot sign: a batch verification
    with ``signatures`` fails the contract, in one process and in spawned ones (which import
    the validator ``signing/`` registered)."""
    import hashlib
    import json

    from engine.audit.replay import event_body
    from engine.audit.verification import verify_contracts, verify_contracts_parallel
    from engine.kernel.contract_state import chain_hash
    from engine.kernel.planning import GENESIS
    from engine.kernel.signature_events import SIGNATURE_EVENT_KINDS
    from engine.models import Contract, Document, Event

    world = signing_world
    cid = setup_contract(world)
    for username in ("amira", "acme.hr", "head.tun"):
        sign_as(world, username)
    other = world.start()  # a contract not signed yet
    with world.aqd.session() as s:
        doc = requests.latest_signed(s, cid)
        assert doc is not None
        doc_id, original, sha = doc.id, doc.content, doc.sha256
    honest = verify_contracts(world.aqd, [cid, other], signatures=True)
    assert honest.passed == 2 and honest.signatures_validated >= 1, honest.to_dict()

    forged = bytearray(original)
    forged[len(forged) // 2] ^= 0x01
    new_sha = hashlib.sha256(bytes(forged)).hexdigest()
    with world.aqd.session() as s, s.begin():
        s.execute(
            update(Document)
            .where(Document.id == doc_id)
            .values(content=bytes(forged), sha256=new_sha)
        )
        prev = GENESIS
        for ev in s.scalars(select(Event).where(Event.contract_id == cid).order_by(Event.seq)):
            payload = ev.payload
            if ev.kind in SIGNATURE_EVENT_KINDS:
                payload = json.loads(json.dumps(payload).replace(sha, new_sha))
            body = {**event_body(ev), "payload": payload}
            digest = chain_hash(prev, body)
            s.execute(
                update(Event)
                .where(Event.id == ev.id)
                .values(payload=payload, prev_hash=prev, hash=digest)
            )
            prev = digest
        s.execute(update(Contract).where(Contract.id == cid).values(chain_head=prev))

    fooled = verify_contracts(world.aqd, [cid, other])
    assert fooled.passed == 2 and fooled.signatures_validated == 0
    caught = verify_contracts(world.aqd, [cid, other], signatures=True)
    assert caught.passed == 1 and [f["contract_id"] for f in caught.failed] == [cid]
    problem = caught.failed[0]["problem"]
    assert f"document {doc_id} (contract_signed)" in problem
    assert "is altered" in problem or "cannot be read" in problem, problem
    # the spawned process builds its engine with the application's root, as this one's plug-ins
    spawned = verify_contracts_parallel(world.aqd, [cid, other], 2, chunk_size=1, signatures=True)
    assert [f["contract_id"] for f in spawned.failed] == [cid]
    assert spawned.signatures_validated == caught.signatures_validated
