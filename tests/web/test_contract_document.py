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

from engine.audit.replay import history_of
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
    found = re.search(r"Bourse mensuelle versée par l'État\s+(\d+\.\d{3}) TND", french)
    assert found is not None
    amount = found.group(1)
    assert amount in ("250.000", "200.000")  # a graduate's 200 TND, plus 50 for a disability
    # in the Arabic table each value cell extracts just before its label (right to left), the
    # rows in the contract's order: the beneficiary, then the dates, then the amounts
    expected = stated_terms(web, contract.id)
    assert amount == str(expected["stipend"])
    rows = arabic_rows(arabic)
    assert [label for label, _ in rows] == list(AR_LABELS)
    values = dict(rows)
    assert name in values["المنتفع"] and cin in values["المنتفع"]
    assert values["تاريخ الطلب"] == expected["request_date"]
    assert number_in(values["المدة القصوى"], expected["months"])
    assert "شهرا" in values["المدة القصوى"]
    assert number_in(values["المنحة الشهرية التي تصرفها الدولة"], expected["stipend"])
    assert number_in(values["المنحة التكميلية الشهرية للمؤجر"], expected["complement"])
    for label in ("المنحة الشهرية التي تصرفها الدولة", "المنحة التكميلية الشهرية للمؤجر"):
        assert "دينارا" in values[label]
    fields = [f[0] for f in enumerate_sig_fields(PdfFileReader(io.BytesIO(pdf)))]
    assert fields == ["beneficiary", "employer", "office"]
    # the document is scoped like the contract
    outsider, _ = web.login("counsellor.gaf")
    assert outsider.get(f"/contracts/{contract.id}/contract.pdf").status_code == 404


BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
#: The Arabic table's labels, in the order the contract states them.
AR_LABELS = (
    "المنتفع",
    "المؤجر",
    "الخطة",
    "المؤطر",
    "تاريخ الطلب",
    "المدة القصوى",
    "المنحة الشهرية التي تصرفها الدولة",
    "المنحة التكميلية الشهرية للمؤجر",
)


def arabic_rows(arabic: str) -> list[tuple[str, str]]:
    """(label, value) of each row of the Arabic table: the value is the line extracted just
    before its label (bidi embedding marks removed)."""
    lines = [BIDI.sub("", line).strip() for line in arabic.splitlines()]
    lines = [line for line in lines if line]
    return [(line, lines[i - 1]) for i, line in enumerate(lines) if i and line in AR_LABELS]


def number_in(text: str, value: object) -> bool:
    """``value`` (an amount or a count) appears in ``text`` as a whole number, not as part of
    another one (Arabic letters and digits are both word characters, so no \\b)."""
    return re.search(rf"(?<![\d.]){re.escape(str(value))}(?![\d.])", text) is not None


def stated_terms(web: Web, contract_id: int) -> dict[str, object]:
    """What the document must state, from the contract's own history (its start data, its
    parameters and the employer's agreement), not from the document's renderer."""
    with web.aqd.session() as s:
        history = history_of(s, contract_id)
    data = history["events"][0]["payload"]["data"]
    params = data["params"]
    agreement = next(
        e["payload"]["data"]
        for e in history["events"]
        if e["kind"] == "task_completed" and e["payload"].get("bpmn_id") == "employer_agreement"
    )
    graduate = data["diploma_level"] in ("HIGHER_ED", "BTS")
    stipend = params["stipend_higher_ed"] if graduate else params["stipend_other"]
    stipend += params["disability_topup"] if data.get("disabled") else 0
    months = params["max_months_graduate"] if graduate else params["max_months_other"]
    return {
        "request_date": data["request_date"],
        "months": months,
        "stipend": f"{stipend:.3f}",  # TND with its 3 decimals, as the payment order
        "complement": agreement["employer_complement"],
    }
