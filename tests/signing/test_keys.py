"""Key sources: the development CA generated once and kept under var/pki; a deployment's agency
seal from a PKCS#12 file issued by another CA, trusted through extra roots, with time-stamps
from an RFC 3161 service over HTTP (here a local TSA server, the external border)."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.keys import DevKeySource
from signing.pades import Field, _LocalTsa, add_fields, minimal_pdf, sign, verify
from signing.pki import DevPki, Identity, create_dev_pki, issue_signer


def test_the_dev_ca_is_created_once_and_kept(tmp_path: Path) -> None:
    first = DevKeySource(tmp_path / "pki")
    root = first.root_pem
    amira = first.identity("beneficiary", "Amira Ben Salah")
    again = DevKeySource(tmp_path / "pki")  # another process, later
    assert again.root_pem == root
    assert again.identity("beneficiary", "Amira Ben Salah").cert.dump() == amira.cert.dump()
    assert again.identity("employer", "Amira Ben Salah").cert.dump() != amira.cert.dump()
    for key in (tmp_path / "pki").rglob("*.key.pem"):
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600, key


class _Tsa(BaseHTTPRequestHandler):
    tsa: _LocalTsa
    served: list[int]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = self.tsa.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
        self.served.append(len(reply))
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def other_ca() -> tuple[DevPki, dict[str, object]]:
    """Another certification authority (as TunTrust would be for a production seal)."""
    return create_dev_pki()  # type: ignore[return-value]


@pytest.fixture
def tsa_url(other_ca: tuple[DevPki, dict[str, object]]) -> Iterator[tuple[str, list[int]]]:
    pki, _keys = other_ca
    handler = type(
        "Handler",
        (_Tsa,),
        {
            "tsa": _LocalTsa(
                tsa_cert=pki.tsa.cert,
                tsa_key=pki.tsa.key,
                certs_to_embed=SimpleCertificateStore.from_certs([pki.root.cert]),  # type: ignore[no-untyped-call]
            ),
            "served": [],
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served: list[int] = handler.served  # type: ignore[attr-defined]
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa", served
    server.shutdown()
    server.server_close()


def _p12(seal: Identity, pki: DevPki, password: bytes) -> bytes:
    key = serialization.load_der_private_key(seal.key.dump(), password=None)
    cert = x509.load_der_x509_certificate(seal.cert.dump())
    chain = [x509.load_der_x509_certificate(c.dump()) for c in pki.chain]
    return pkcs12.serialize_key_and_certificates(
        b"aneti-seal",
        key,  # type: ignore[arg-type]
        cert,
        chain,
        serialization.BestAvailableEncryption(password),
    )


def test_a_pkcs12_seal_from_another_ca_and_an_http_tsa(
    tmp_path: Path,
    other_ca: tuple[DevPki, dict[str, object]],
    tsa_url: tuple[str, list[int]],
) -> None:
    pki, keys = other_ca
    seal = issue_signer(pki, keys["intermediate"], "ANETI cachet", "agency seal")  # type: ignore[arg-type]
    p12 = tmp_path / "seal.p12"
    p12.write_bytes(_p12(seal, pki, b"s3cret"))
    roots = tmp_path / "roots.pem"
    roots.write_bytes(
        x509.load_der_x509_certificate(pki.root.cert.dump()).public_bytes(
            serialization.Encoding.PEM
        )
    )
    crls = tmp_path / "crls.pem"
    crls.write_bytes(
        x509.load_der_x509_crl(pki.crl.dump()).public_bytes(serialization.Encoding.PEM)
    )
    url, served = tsa_url
    source = DevKeySource(
        tmp_path / "pki",
        seal_p12=p12,
        seal_password="s3cret",
        trust_roots=roots,
        tsa_url=url,
        crls=crls,
    )
    pdf = add_fields(
        minimal_pdf("Contrat CIVP"),
        [Field("beneficiary", (40, 60, 200, 130)), Field("office", (220, 60, 380, 130))],
    )
    pdf = sign(pdf, "beneficiary", source.identity("beneficiary", "Amira"), source.pki, reason="b")
    pdf = sign(
        pdf, "office", source.identity("office", "ignored"), source.pki, reason="o", long_term=True
    )
    checks = verify(pdf, source.pki)
    assert all(c.ok for c in checks), checks
    assert "ANETI cachet" in next(c.signer for c in checks if c.field == "office")
    assert len(served) >= 3  # both signatures' time-stamps and the seal's document time-stamp

    # Without the seal CA's root the same document does not verify.
    bare = DevKeySource(tmp_path / "pki")
    assert not all(c.ok for c in verify(pdf, bare.pki))
    # A wrong password is a clear error, not a crash deep in pyHanko.
    wrong = DevKeySource(tmp_path / "pki", seal_p12=p12, seal_password="nope")
    with pytest.raises(ValueError, match="seal"):
        wrong.identity("office", "x")


SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")


def test_the_seal_signs_from_an_hsm_over_pkcs11(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SoftHSM stands in for the agency's HSM: its key is written to the token once and only
    used through PKCS#11 afterwards."""
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric import rsa

    from signing.keys import Pkcs11Seal
    from signing.pki import _certificate, _name

    conf = tmp_path / "softhsm2.conf"
    (tmp_path / "tokens").mkdir()
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "aneti-seal",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ],
        check=True,
        capture_output=True,
    )
    source = DevKeySource(tmp_path / "pki", pkcs11=Pkcs11Seal(SOFTHSM, "aneti-seal", "1234"))
    pki = source.pki
    issuer_key = serialization.load_der_private_key(pki.intermediate.key.dump(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _certificate(
        _name("ANETI cachet HSM", "agency seal"),
        key.public_key(),
        x509.load_der_x509_certificate(pki.intermediate.cert.dump()).subject,
        issuer_key,  # type: ignore[arg-type]
        ca=False,
        now=datetime.now(UTC),
        days=365,
    )
    key_der = tmp_path / "seal.key.der"
    key_der.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_der = tmp_path / "seal.cert.der"
    cert_der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    for path, kind in ((key_der, "privkey"), (cert_der, "cert")):
        subprocess.run(
            [
                "pkcs11-tool",
                "--module",
                str(SOFTHSM),
                "--token-label",
                "aneti-seal",
                "--login",
                "--pin",
                "1234",
                "--write-object",
                str(path),
                "--type",
                kind,
                "--id",
                "01",
                "--label",
                "seal",
            ],
            check=True,
            capture_output=True,
        )
    key_der.unlink()  # from now on the key exists only on the token

    pdf = add_fields(minimal_pdf("Contrat CIVP"), [Field("office", (220, 60, 380, 130))])
    hsm = source.signer_for("office", "ignored")
    assert not isinstance(hsm, Identity)
    signed = sign(pdf, "office", hsm, pki, reason="seal", long_term=True)
    checks = verify(signed, pki)
    assert all(c.ok for c in checks), checks
    assert "ANETI cachet HSM" in checks[0].signer
    # Persons still sign with the dev CA's certificates.
    assert isinstance(source.signer_for("beneficiary", "Amira"), Identity)
    wrong = DevKeySource(tmp_path / "pki", pkcs11=Pkcs11Seal(SOFTHSM, "aneti-seal", "0000"))
    with pytest.raises(ValueError, match="PKCS#11 token"):
        wrong.signer_for("office", "x")
