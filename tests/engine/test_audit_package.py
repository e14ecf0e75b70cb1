"""Audit packages verify offline, and any changed byte makes them fail."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from engine.audit.package import build_package, canonical_zip, verify_package
from tests.conftest import AGREEMENT, World


@pytest.fixture
def package(world: World) -> bytes:
    cid = world.start()
    world.complete(cid, "employer_agreement", AGREEMENT, "employer")
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    world.sign_all(cid)
    world.run_month(cid)
    with world.aqd.session() as s:
        return build_package(s, cid, world.clock.now())


def test_untouched_package_verifies(package: bytes) -> None:
    report = verify_package(package)
    assert report.ok, report.problems
    # start, agreement, validation, 3 x (signature request taken, signed), month end,
    # attendance, payment
    assert report.events == 12 and report.contract.startswith("CIVP-2025-")


def test_every_changed_byte_fails(package: bytes) -> None:
    step = max(1, len(package) // 300)
    edges = [*range(0, 160), *range(len(package) - 300, len(package))]  # headers, directory
    for position in sorted({*range(0, len(package), step), *edges}):
        altered = bytearray(package)
        altered[position] ^= 0x01
        report = verify_package(bytes(altered))
        assert not report.ok, f"byte {position} of {len(package)} changed unnoticed"


def test_consistently_rewritten_history_still_fails(package: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    history = json.loads(files["history.json"])
    history["events"][2]["payload"]["data"]["employer_complement"] = 999
    files["history.json"] = json.dumps(history).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["history.json"] = hashlib.sha256(files["history.json"]).hexdigest()
    files["manifest.json"] = json.dumps(manifest).encode()
    report = verify_package(canonical_zip(files))
    assert not report.ok and report.first_divergent_seq == 3


def test_garbage_is_a_clear_failure() -> None:
    report = verify_package(b"not a zip at all")
    assert not report.ok and "not a readable package" in report.problems[0]
