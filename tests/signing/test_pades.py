"""Real PAdES signatures with the development PKI: beneficiary, employer, then the agency seal
(B-LTA); tampering after signing is detected."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from signing.pades import Field, add_fields, minimal_pdf, sign, verify
from signing.pki import DevPki, Identity, create_dev_pki, issue_signer

FIELDS = [
    Field("SigBeneficiary", (40, 60, 200, 130)),
    Field("SigEmployer", (215, 60, 375, 130)),
    Field("SigAgency", (390, 60, 550, 130), locks_document=True),
]


@pytest.fixture(scope="module")
def pki() -> tuple[DevPki, dict[str, Identity]]:
    dev, keys = create_dev_pki()
    people = {
        "beneficiary": issue_signer(dev, keys["intermediate"], "Amira Ben Salah", "beneficiary"),
        "employer": issue_signer(dev, keys["intermediate"], "ACME SARL", "employer"),
        "agency": issue_signer(dev, keys["intermediate"], "ANETI - BETI Tunis", "agency seal"),
    }
    return dev, people


@pytest.fixture(scope="module")
def signed(pki: tuple[DevPki, dict[str, Identity]]) -> bytes:
    dev, people = pki
    pdf = add_fields(minimal_pdf("Contrat CIVP CIVP-2025-000001"), FIELDS)
    pdf = sign(pdf, "SigBeneficiary", people["beneficiary"], dev, reason="Beneficiary")
    pdf = sign(pdf, "SigEmployer", people["employer"], dev, reason="Employer")
    return sign(pdf, "SigAgency", people["agency"], dev, reason="ANETI approval", long_term=True)


def test_three_signatures_and_the_seal_validate(
    signed: bytes, pki: tuple[DevPki, dict[str, Identity]]
) -> None:
    checks = verify(signed, pki[0])
    assert [(c.field, c.kind) for c in checks[:3]] == [
        ("SigBeneficiary", "signature"),
        ("SigEmployer", "signature"),
        ("SigAgency", "signature"),
    ]
    assert checks[3].kind == "timestamp"  # B-LTA document time-stamp after the seal
    assert all(c.ok and c.intact and c.trusted for c in checks), checks
    assert [c.modification for c in checks[:3]] == ["FORM_FILLING", "FORM_FILLING", "LTA_UPDATES"]
    assert "Amira Ben Salah" in checks[0].signer and "ACME SARL" in checks[1].signer
    assert all(c.signed_at is not None for c in checks)


def test_flipped_byte_breaks_integrity(
    signed: bytes, pki: tuple[DevPki, dict[str, Identity]]
) -> None:
    start = signed.index(b"Contrat CIVP")
    tampered = signed[:start] + b"Kontrat" + signed[start + 7 :]
    checks = verify(tampered, pki[0])
    assert not any(c.intact for c in checks if c.kind == "signature")
    assert not any(c.ok for c in checks if c.kind == "signature")


def test_page_edit_after_signing_is_refused(
    pki: tuple[DevPki, dict[str, Identity]],
) -> None:
    dev, people = pki
    pdf = add_fields(minimal_pdf("Contrat CIVP CIVP-2025-000002"), FIELDS)
    pdf = sign(pdf, "SigBeneficiary", people["beneficiary"], dev, reason="Beneficiary")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    # a red box drawn on page 1 (pyHanko's writer is untyped)
    overlay = generic.StreamObject(stream_data=b"1 0 0 rg 100 500 200 100 re f")
    writer.add_stream_to_page(0, writer.add_object(overlay))  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    [check] = verify(out.getvalue(), dev)
    assert check.intact and not check.ok and check.modification == "OTHER"


def test_unknown_signer_is_not_trusted(pki: tuple[DevPki, dict[str, Identity]]) -> None:
    dev, _people = pki
    other, other_keys = create_dev_pki()
    stranger = issue_signer(other, other_keys["intermediate"], "Someone else", "beneficiary")
    pdf = add_fields(minimal_pdf("Contrat"), FIELDS[:1])
    pdf = sign(pdf, "SigBeneficiary", stranger, other, reason="Beneficiary")
    [check] = verify(pdf, dev)
    assert check.intact and not check.trusted and not check.ok


def test_the_reserved_room_fits_our_signatures_and_a_larger_one_is_sized_by_pyhanko(
    signed: bytes, pki: tuple[DevPki, dict[str, Identity]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each signature's CMS container fits the room ``sign`` reserves (so no dry run), with
    room to spare; one that does not fit (a longer chain, a bigger token) is signed all the
    same, in a container pyHanko sizes."""
    from asn1crypto import cms
    from pyhanko.pdf_utils.reader import PdfFileReader

    from signing import pades

    for embedded in PdfFileReader(io.BytesIO(signed)).embedded_signatures:
        if embedded.sig_object_type == "/Sig":
            room = len(embedded.pkcs7_content)
            used = len(cms.ContentInfo.load(embedded.pkcs7_content.rstrip(b"\x00")).dump())
            assert room == pades.RESERVED // 2 and used * 1.3 < room, (used, room)
    dev, people = pki
    monkeypatch.setattr(pades, "RESERVED", 2_000)  # far less than a container needs
    pdf = add_fields(minimal_pdf("Contrat CIVP CIVP-2025-000002"), FIELDS)
    pdf = sign(pdf, "SigBeneficiary", people["beneficiary"], dev, reason="Beneficiary")
    [check] = verify(pdf, dev)
    assert check.ok, check
    [embedded] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert len(embedded.pkcs7_content) > 1_000  # pyHanko's own estimate, not the room asked
