"""Independent verification: poppler's pdfsig (with NSS trusting only the dev root) reports each
signature of a contract signed by Aqd as valid and trusted."""

from __future__ import annotations

import subprocess
from pathlib import Path

from asn1crypto import pem

from signing.documents import render
from signing.pades import sign
from signing.pki import create_dev_pki, issue_signer
from tests.helpers.documents import TERMS


def test_pdfsig_validates_every_signature(tmp_path: Path) -> None:
    dev, keys = create_dev_pki()
    people = [
        (
            "beneficiary",
            issue_signer(dev, keys["intermediate"], "Amira Ben Salah", "beneficiary"),
        ),
        ("employer", issue_signer(dev, keys["intermediate"], "ACME SARL", "employer")),
        ("office", issue_signer(dev, keys["intermediate"], "ANETI BETI Tunis", "agency seal")),
    ]
    # the bilingual contract document Aqd renders, with its three signature fields
    pdf = render(TERMS).pdf
    for name, who in people:
        pdf = sign(pdf, name, who, dev, reason=name, long_term=name == "office")
    (tmp_path / "contract.pdf").write_bytes(pdf)
    (tmp_path / "root.pem").write_bytes(pem.armor("CERTIFICATE", dev.root.cert.dump()))
    nss = f"sql:{tmp_path / 'nss'}"
    (tmp_path / "nss").mkdir()
    subprocess.run(["certutil", "-N", "-d", nss, "--empty-password"], check=True)
    subprocess.run(
        [
            "certutil",
            "-A",
            "-n",
            "aqd-dev-root",
            "-t",
            "CT,C,C",
            "-i",
            str(tmp_path / "root.pem"),
            "-d",
            nss,
        ],
        check=True,
    )
    result = subprocess.run(
        ["pdfsig", "-nssdir", nss, str(tmp_path / "contract.pdf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = result.stdout
    assert report.count("Signature Validation: Signature is Valid.") == 3, report
    assert report.count("Certificate Validation: Certificate is Trusted.") == 3, report
    for name in ("Amira Ben Salah", "ACME SARL", "ANETI BETI Tunis"):
        assert f"Signer Certificate Common Name: {name}" in report
    # The 4th entry is the B-LTA document time-stamp, which pdfsig 22.12 lists but cannot verify.
    assert "Signature #4" in report and report.count("has not yet been verified") == 1
