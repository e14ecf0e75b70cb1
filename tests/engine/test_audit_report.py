"""The audit package carries the verification report as a bilingual PDF, listed in its manifest;
the report states the replay's verdict, which ``verify_package`` checks again offline."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select, update

from engine.audit.package import REPORT, build_package, canonical_zip, verify_package
from engine.models import Event
from tests.conftest import AGREEMENT, World

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")


def members(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    # poppler marks the Arabic runs and the embedded left-to-right ones: drop the marks
    return re.sub("[\u202a-\u202e\u2066-\u2069]", "", text)


def contract(world: World) -> int:
    cid = world.start()
    world.complete(cid, "employer_agreement", AGREEMENT, "employer")
    world.complete(cid, "counsellor_validation", {"validation_decision": "validate"})
    return cid


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_report_pdf_states_a_pass_in_both_languages(world: World, tmp_path: Path) -> None:
    cid = contract(world)
    with world.aqd.session() as s:
        package = build_package(s, cid, world.clock.now())
    files = members(package)
    manifest = json.loads(files["manifest.json"])
    assert manifest["files"][REPORT] == hashlib.sha256(files[REPORT]).hexdigest()
    assert manifest["verification"] == {
        "ok": True,
        "events": 3,
        "first_divergent_seq": None,
        "problems": [],
    }
    text = pdf_text(files[REPORT], tmp_path)
    number = manifest["contract"]["number"]
    french, _, arabic = text.partition("تقرير التحقق من العقد")
    assert "VÉRIFIÉ : l'historique est intact (3 événements rejoués" in french
    assert number in french and "ÉCHEC" not in french
    assert "تم التحقق" in arabic and "السجل سليم" in arabic
    assert re.search(r"أعيد تنفيذ\s*3\s*حدثا", arabic)  # spacing around runs varies
    assert number in arabic
    assert "فشل التحقق" not in arabic
    report = verify_package(package)
    assert report.ok, report.problems

    # a manifest that states another verdict than the replay fails, even consistently rebuilt
    manifest["verification"]["ok"] = False
    files["manifest.json"] = json.dumps(manifest).encode()
    report = verify_package(canonical_zip(files))
    assert not report.ok
    assert report.problems == [f"the package's {REPORT} states another verdict than the replay"]
    # and a package without its report fails
    del files[REPORT]
    assert (
        f"{REPORT} is listed in the manifest but missing"
        in verify_package(canonical_zip(files)).problems
    )


def test_report_pdf_names_the_first_divergent_event(world: World, tmp_path: Path) -> None:
    cid = contract(world)
    with world.aqd.session() as s, s.begin():
        ev = s.scalar(select(Event).where(Event.contract_id == cid, Event.seq == 2))
        assert ev is not None
        data = {**ev.payload["data"], "tutor_name": "Someone else"}
        s.execute(
            update(Event).where(Event.id == ev.id).values(payload={**ev.payload, "data": data})
        )
    with world.aqd.session() as s:
        package = build_package(s, cid, world.clock.now())
    files = members(package)
    verdict = json.loads(files["manifest.json"])["verification"]
    assert verdict["ok"] is False and verdict["first_divergent_seq"] == 2
    text = pdf_text(files[REPORT], tmp_path)
    french, _, arabic = text.partition("تقرير التحقق من العقد")
    assert "ÉCHEC DE LA VÉRIFICATION : premier événement divergent n° 2" in french
    assert "VÉRIFIÉ" not in french
    assert "فشل التحقق" in arabic and re.search(r"أول حدث مختلف رقم\s*2\b", arabic)
    assert "chain hash mismatch" in arabic  # the technical detail, kept left to right
    report = verify_package(package)  # the package of a tampered contract does not verify
    assert not report.ok and report.first_divergent_seq == 2
