"""Audit packages: a contract's whole history in one file anyone can verify offline.

A package is a canonical ZIP (stored, fixed order and timestamps) holding ``history.json``
(events, the pinned definition, final state hashes: what replay needs),
``verification-report.pdf`` (the replay's verdict at export, in French and Arabic),
``manifest.json`` (the SHA-256 of every other file, the contract, its chain head and the
verdict the report states) and ``documents/`` (every document of the contract: uploaded proofs,
the rendered contract and each signed version). Verification rebuilds the canonical archive
from its members and compares bytes (any altered byte fails), checks the manifest, checks that
every document's SHA-256 is one the hash-chained events recorded (so a document cannot be
swapped even together with its manifest line), then replays the history and checks that the
report's stated verdict is the replay's.

All of that is self-consistency: whoever can rewrite the database can export a consistent
package of a rewritten history. ``anchor.json``, present once the contract's chain was
anchored (``engine/audit/anchors.py``), ties the history to a time-stamp from outside: the
latest anchored head, its Merkle path to the anchor's root and the RFC 3161 token over that
root. Verification checks them too and reports when the history was anchored; a package
without one says ``anchored: null``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit.anchors import contract_proof, verify_proof
from engine.audit.replay import hashes_in, history_of, replay_history
from engine.commands.aqd import Aqd
from engine.models import Document
from forms.reports import render_pdf

PACKAGE_FORMAT = "aqd-audit-package/1"
#: The kind of a contract's signed versions (whose validator ``signing/`` registers).
SIGNED_KIND = "contract_signed"
#: The verification report (PDF, French and Arabic) made when the package was exported.
REPORT = "verification-report.pdf"
MAX_PACKAGE_BYTES = 200 * 1024 * 1024
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass
class PackageReport:
    ok: bool = True
    contract: str = ""
    events: int = 0
    problems: list[str] = field(default_factory=list)
    first_divergent_seq: int | None = None
    #: The anchored head the package proves (``anchor.json``), None if it has none.
    anchored: dict[str, Any] | None = None
    #: Signed documents whose signatures were validated (given the engine's trust settings).
    signatures_validated: int = 0

    def fail(self, message: str) -> None:
        self.ok = False
        self.problems.append(message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "contract": self.contract,
            "events": self.events,
            "first_divergent_seq": self.first_divergent_seq,
            "problems": self.problems,
            "anchored": self.anchored,
            "signatures_validated": self.signatures_validated,
        }


def canonical_zip(files: dict[str, bytes]) -> bytes:
    """The one byte string a set of members is packaged as (sorted, stored, fixed times)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, files[name])
    return buffer.getvalue()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=False).encode("utf-8")


def _verdict(replay: Any) -> dict[str, Any]:
    """What the package's verification report states (and ``verify_package`` re-checks)."""
    return {
        "ok": replay.ok,
        "events": replay.events,
        "first_divergent_seq": replay.first_divergent_seq,
        "problems": list(replay.problems),
    }


def verification_report_pdf(history: dict[str, Any], verdict: dict[str, Any], at: str) -> bytes:
    """The bilingual verification report (PDF) of a history and its replay's verdict."""
    definition = history["definition"]
    return render_pdf(
        "verification.html",
        v={
            **verdict,
            "contract": history["contract"]["number"],
            "chain_head": history["contract"].get("chain_head", ""),
            "programme": definition["programme"],
            "version": definition["version"],
            "content_hash": definition["content_hash"],
            "created_at": at,
            "timeline": [
                {k: e.get(k, "") for k in ("seq", "kind", "at", "actor", "hash")}
                for e in history["events"]
            ],
        },
    )


def _safe(filename: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:100] or "document"


def build_package(session: Session, contract_id: int, created_at: datetime) -> bytes:
    history = history_of(session, contract_id)
    verdict = _verdict(replay_history(history))
    at = created_at.isoformat(timespec="seconds")
    files = {
        "history.json": _json(history),
        REPORT: verification_report_pdf(history, verdict, at),
    }
    documents = []
    for doc in session.scalars(
        select(Document)
        .where(Document.contract_id == contract_id, Document.status == "recorded")
        .order_by(Document.id)
    ):
        name = f"documents/{doc.id:06d}-{_safe(doc.filename)}"
        files[name] = doc.content
        documents.append({"file": name, "kind": doc.kind, "sha256": doc.sha256})
    proof = contract_proof(session, contract_id)
    if proof is not None:
        files["anchor.json"] = _json(proof)
    manifest = {
        "format": PACKAGE_FORMAT,
        "contract": history["contract"],
        "definition": {
            k: history["definition"][k] for k in ("programme", "version", "content_hash")
        },
        "events": len(history["events"]),
        "created_at": created_at.isoformat(),
        "verification": verdict,
        "documents": documents,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    files["manifest.json"] = _json(manifest)
    return canonical_zip(files)


def export_package(session: Session, contract_id: int, path: Path, created_at: datetime) -> str:
    data = build_package(session, contract_id, created_at)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def verify_package(data: bytes, aqd: Aqd | None = None) -> PackageReport:
    """Verify a package's bytes: canonical form, manifest hashes, chain and replay, and, given
    the engine (its trust settings), the signatures of its signed documents and its anchor
    proof if it has one."""
    report = PackageReport()
    if len(data) > MAX_PACKAGE_BYTES:
        report.fail("package larger than 200 MB")
        return report
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
    except Exception as exc:  # any damage to an untrusted archive is a verification failure
        report.fail(f"not a readable package: {type(exc).__name__}: {exc}")
        return report
    if canonical_zip(members) != data:
        report.fail("package bytes were altered (not the canonical archive of its contents)")
    try:
        manifest = json.loads(members["manifest.json"])
        history = json.loads(members["history.json"])
    except KeyError as exc:
        report.fail(f"package lacks {exc.args[0]}")
        return report
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        report.fail(f"package JSON is damaged: {exc}")
        return report
    report.contract = str(manifest.get("contract", {}).get("number", ""))
    if manifest.get("format") != PACKAGE_FORMAT:
        report.fail(f"unknown package format {manifest.get('format')!r}")
        return report
    listed = manifest.get("files", {})
    for name in sorted(set(members) - {"manifest.json"}):
        digest = hashlib.sha256(members[name]).hexdigest()
        if listed.get(name) != digest:
            report.fail(f"{name} does not match its manifest hash")
    for name in sorted(set(listed) - set(members)):
        report.fail(f"{name} is listed in the manifest but missing")
    if manifest.get("contract") != history.get("contract"):
        report.fail("manifest and history name different contracts or chain heads")
    recorded = hashes_in(history.get("events", []))
    # The signed versions are the documents a signature event recorded (not what the
    # manifest, which anyone can rewrite, calls them): their signatures are validated too.
    signed = {
        str(ev.get("payload", {}).get("signed_document_sha256"))
        for ev in history.get("events", [])
        if isinstance(ev, dict) and ev.get("kind") == "signature_applied"
    }
    for name in sorted(n for n in members if n.startswith("documents/")):
        digest = hashlib.sha256(members[name]).hexdigest()
        if digest not in recorded:
            report.fail(f"{name} is not a document the contract's events recorded")
        validator = aqd.plugins.validator_for(SIGNED_KIND) if aqd is not None else None
        if aqd is not None and validator is not None and digest in signed:  # its trust settings
            problem = validator(aqd, members[name])
            report.signatures_validated += 1
            if problem:
                report.fail(f"{name}: {problem}")
    try:
        replay = replay_history(history)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        report.fail(f"history is malformed: {type(exc).__name__}: {exc}")
        return report
    report.events = replay.events
    report.first_divergent_seq = replay.first_divergent_seq
    for problem in replay.problems:
        report.fail(problem)
    stated = manifest.get("verification")
    if stated is not None and stated != _verdict(replay):
        report.fail(f"the package's {REPORT} states another verdict than the replay")
    if "anchor.json" in members:
        try:
            proof = json.loads(members["anchor.json"])
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            report.fail(f"anchor.json is damaged: {exc}")
            return report
        problems = verify_proof(aqd, proof, history.get("events", []))
        for problem in problems:
            report.fail(problem)
        if not problems:
            report.anchored = {
                k: proof[k] for k in ("anchor", "anchored_at", "tsa") if k in proof
            } | {"seq": proof["leaf"]["seq"]}
    return report
