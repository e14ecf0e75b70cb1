"""The contract document: a bilingual PDF whose Arabic text extracts (poppler's pdftotext) with
the beneficiary's name, amounts and dates in logical order, and one empty signature field per
party, ready for PAdES signing."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from sqlalchemy import select

from engine.models import Contract
from tests.web.conftest import Web

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")


def test_bilingual_contract_pdf(web: Web, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with web.aqd.session() as s:
        contract = s.scalars(
            select(Contract).where(Contract.status == "active").order_by(Contract.id)
        ).first()
    assert contract is not None
    staff, _ = web.login("counsellor.tun")
    r = staff.get(f"/contracts/{contract.id}/contract.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert len(r.headers["x-content-sha256"]) == 64
    pdf = r.content
    path = tmp_path / "contract.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    detail = staff.get(f"/api/v1/contracts/{contract.id}").json()
    name, cin = detail["beneficiary"], detail["beneficiary_cin"]
    assert contract.number in text and name in text and cin in text
    french, _, arabic = text.partition("عقد الإعداد للحياة المهنية")
    assert arabic, "the Arabic part is missing"
    # logical order survives in the Arabic part: the date is not flipped to 15-01-2025
    assert "2025-01-15" in arabic and "15-01-2025" not in arabic
    assert "بطاقة التعريف عدد" in arabic and cin in arabic
    found = re.search(r"Bourse mensuelle versée par l'État\s+(\d+) TND", french)
    assert found is not None
    amount = found.group(1)
    assert amount in ("250", "200")  # a graduate's 200 TND, plus 50 TND for a disability
    # in the Arabic table the amount cell extracts just before its label (right to left)
    marks = "\u202a\u202b\u202c\u2066\u2067\u2068\u2069 "
    before_label = [
        line.strip(marks)
        for line in arabic.split("المنحة الشهرية التي تصرفها الدولة", 1)[0].splitlines()
        if line.strip(marks)
    ]
    assert amount in before_label[-1] and "دينارا" in before_label[-1]
    fields = [f[0] for f in enumerate_sig_fields(PdfFileReader(io.BytesIO(pdf)))]
    assert fields == ["beneficiary", "employer", "office"]
    # the document is scoped like the contract
    outsider, _ = web.login("counsellor.gaf")
    assert outsider.get(f"/contracts/{contract.id}/contract.pdf").status_code == 404
