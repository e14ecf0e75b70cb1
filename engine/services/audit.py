"""Audit packages: a contract's whole history in one file anyone can verify offline.

A package is a canonical ZIP (stored, fixed order and timestamps) holding ``history.json``
(events, the pinned definition, final state hashes: what replay needs), ``manifest.json`` (the
SHA-256 of every other file, the contract and its chain head) and, as the signing issue adds
them, the contract's documents. Verification rebuilds the canonical archive from its members
and compares bytes (any altered byte fails), checks the manifest, then replays the history.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from engine.services.replay import history_of, replay_history

PACKAGE_FORMAT = "aqd-audit-package/1"
MAX_PACKAGE_BYTES = 200 * 1024 * 1024
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass
class PackageReport:
    ok: bool = True
    contract: str = ""
    events: int = 0
    problems: list[str] = field(default_factory=list)
    first_divergent_seq: int | None = None

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


def build_package(session: Session, contract_id: int, created_at: datetime) -> bytes:
    history = history_of(session, contract_id)
    files = {"history.json": _json(history)}
    manifest = {
        "format": PACKAGE_FORMAT,
        "contract": history["contract"],
        "definition": {
            k: history["definition"][k] for k in ("programme", "version", "content_hash")
        },
        "events": len(history["events"]),
        "created_at": created_at.isoformat(),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    files["manifest.json"] = _json(manifest)
    return canonical_zip(files)


def export_package(session: Session, contract_id: int, path: Path, created_at: datetime) -> str:
    data = build_package(session, contract_id, created_at)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def verify_package(data: bytes) -> PackageReport:
    """Verify a package's bytes: canonical form, manifest hashes, chain and replay."""
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
    try:
        replay = replay_history(history)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        report.fail(f"history is malformed: {type(exc).__name__}: {exc}")
        return report
    report.events = replay.events
    report.first_divergent_seq = replay.first_divergent_seq
    for problem in replay.problems:
        report.fail(problem)
    return report
