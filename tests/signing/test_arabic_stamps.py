"""Arabic names in the visible signature stamps, on the bilingual contract document: the three
parties sign in turn, every signature validates, and the stamp text maps back to the names."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from signing import create_dev_pki, issue_signer, sign, verify
from signing.documents import render
from tests.helpers.documents import TERMS

ARTIFACTS = Path(os.environ.get("AQD_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_arabic_names_in_stamps(tmp_path: Path) -> None:
    document = render(TERMS)
    assert document.fields == ("beneficiary", "employer", "office")
    dev, keys = create_dev_pki()
    parties = {
        "beneficiary": issue_signer(dev, keys["intermediate"], "سلمى العياري", "beneficiary"),
        "employer": issue_signer(dev, keys["intermediate"], "شركة الواحة للتقنية", "employer"),
        "office": issue_signer(dev, keys["intermediate"], "مكتب التشغيل بقفصة", "agency seal"),
    }
    pdf = document.pdf
    for field, identity in parties.items():
        pdf = sign(pdf, field, identity, dev, reason="contract", long_term=field == "office")
    checks = verify(pdf, dev)
    assert [c.field for c in checks if c.field in parties] == ["beneficiary", "employer", "office"]
    assert all(c.ok for c in checks), checks  # intact, valid and trusted, time-stamp included
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("سلمى العياري", "شركة الواحة للتقنية", "مكتب التشغيل بقفصة"):
        # the stamp draws shaped glyphs right to left; poppler reads them left to right
        assert name[::-1] in text or name in text, name
    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "80",
                "-png",
                "-singlefile",
                str(path),
                str(ARTIFACTS / "signed-contract"),
            ],
            check=True,
        )
