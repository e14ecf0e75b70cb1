"""Where signing keys come from.

``DevKeySource`` is the embedded default: a development CA generated on first run under
``<var_dir>/pki/`` (root, intermediate, local TSA, empty CRL; never committed), which issues and
keeps one certificate per signer (a person for the beneficiary and employer steps, the agency
seal of the office for the office step). A deployment can take the agency seal from a PKCS#12
file (``AQD_SIGNING_SEAL_P12``), trust more roots (``AQD_SIGNING_TRUST_ROOTS``, PEM) and
time-stamp with an RFC 3161 service (``AQD_SIGNING_TSA_URL``), or keep the seal's key in an HSM
reached through PKCS#11 (``AQD_SIGNING_PKCS11_*``): the key never leaves the device.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import crl as a_crl
from asn1crypto import keys as a_keys
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.config.pkcs11 import TokenCriteria
from pyhanko.sign import pkcs11 as pkcs11_signing
from pyhanko.sign import signers

from signing.pki import DevPki, Identity, Subject, create_dev_pki, issue_signer, to_identity

_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _pem_cert(cert: a_x509.Certificate) -> bytes:
    return x509.load_der_x509_certificate(cert.dump()).public_bytes(serialization.Encoding.PEM)


def _pem_key(key: a_keys.PrivateKeyInfo) -> bytes:
    loaded = serialization.load_der_private_key(key.dump(), password=None)
    return loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _identity(name: str, cert_pem: bytes, key_pem: bytes) -> Identity:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{name}: only EC and RSA keys sign")
    return to_identity(x509.load_pem_x509_certificate(cert_pem), key, name)


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    if secret:
        os.chmod(tmp, 0o600)
    tmp.replace(path)


class KeySourceError(RuntimeError):
    """The key source is not in the state its caller needs (a bug, not bad input)."""


@dataclass(frozen=True)
class Pkcs11Seal:
    """Where the agency seal lives on an HSM: module, token label, PIN, key/cert label."""

    module: Path
    token: str
    pin: str
    label: str = "seal"


@dataclass
class DevKeySource:
    """The development CA, persisted on first use in ``directory``, with the deployment's
    seal, extra roots and time-stamping service when configured."""

    directory: Path
    seal_p12: Path | None = None
    seal_password: str = ""
    trust_roots: Path | None = None
    tsa_url: str | None = None
    crls: Path | None = None
    pkcs11: Pkcs11Seal | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._pki: DevPki | None = None
        self._ca_key: _PrivateKey | None = None
        self._identities: dict[str, Identity] = {}
        self._hsm: signers.Signer | None = None

    # -- the CA -----------------------------------------------------------------------------

    @property
    def pki(self) -> DevPki:
        with self._lock:
            if self._pki is None:
                pki, self._ca_key = self._load_or_create()
                pki.tsa_url = self.tsa_url or None
                if self.trust_roots is not None:
                    pki.extra_roots = [
                        _asn1_cert(c)
                        for c in x509.load_pem_x509_certificates(self.trust_roots.read_bytes())
                    ]
                if self.seal_p12 is not None:
                    pki.extra_certs = [_asn1_cert(c) for c in self._p12(self.seal_p12)[2]]
                if self.crls is not None:
                    pki.extra_crls = [
                        a_crl.CertificateList.load(
                            x509.load_pem_x509_crl(block).public_bytes(serialization.Encoding.DER)
                        )
                        for block in _pem_blocks(self.crls.read_bytes(), b"X509 CRL")
                    ]
                self._pki = pki
            return self._pki

    def _p12(self, path: Path) -> tuple[Any, x509.Certificate, list[x509.Certificate]]:
        try:
            key, cert, chain = pkcs12.load_key_and_certificates(
                path.read_bytes(), self.seal_password.encode() or None
            )
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read the seal's PKCS#12 ({exc})") from exc
        if key is None or cert is None:
            raise ValueError(f"{path}: no key and certificate in this PKCS#12")
        return key, cert, list(chain)

    def _load_or_create(self) -> tuple[DevPki, _PrivateKey]:
        d = self.directory
        files = {
            n: d / n
            for n in (
                "root.pem",
                "intermediate.pem",
                "intermediate.key.pem",
                "tsa.pem",
                "tsa.key.pem",
                "root.key.pem",
                "crl.der",
            )
        }
        if not files["intermediate.key.pem"].is_file():
            pki, keys = create_dev_pki()
            root_key = keys["root"]
            _write(files["root.pem"], _pem_cert(pki.root.cert))
            _write(files["root.key.pem"], _pem_key(pki.root.key), secret=True)
            _write(files["intermediate.pem"], _pem_cert(pki.intermediate.cert))
            _write(files["intermediate.key.pem"], _pem_key(pki.intermediate.key), secret=True)
            _write(files["tsa.pem"], _pem_cert(pki.tsa.cert))
            _write(files["tsa.key.pem"], _pem_key(pki.tsa.key), secret=True)
            _write(files["crl.der"], pki.crl.dump())
            del root_key
        root = _identity("root", files["root.pem"].read_bytes(), files["root.key.pem"].read_bytes())
        inter_key_pem = files["intermediate.key.pem"].read_bytes()
        inter = _identity("intermediate", files["intermediate.pem"].read_bytes(), inter_key_pem)
        tsa = _identity("tsa", files["tsa.pem"].read_bytes(), files["tsa.key.pem"].read_bytes())
        crl = a_crl.CertificateList.load(files["crl.der"].read_bytes())
        ca_key = serialization.load_pem_private_key(inter_key_pem, password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{files['intermediate.key.pem']}: not an EC or RSA private key")
        return DevPki(root=root, intermediate=inter, tsa=tsa, crl=crl), ca_key

    @property
    def root_pem(self) -> bytes:
        """The trust anchor to hand to independent verifiers (``pdfsig``, Acrobat)."""
        return _pem_cert(self.pki.root.cert)

    # -- signers ----------------------------------------------------------------------------

    def identity(self, party: str, name: str | Subject) -> Identity:
        """The signer's certificate and key: issued on first use, then kept on disk. ``name``
        is the signer's verified identity (a :class:`Subject`: legal name, national identity
        number or company's tax number), or a bare common name."""
        if party == "office" and self.seal_p12 is not None:
            return self._seal(self.seal_p12)
        role = "agency seal" if party == "office" else party
        subject = name if isinstance(name, Subject) else Subject(name, role)
        name = subject.common_name
        slug = hashlib.sha256(subject.key().encode()).hexdigest()[:24]
        pki = self.pki
        with self._lock:
            found = self._identities.get(slug)
            if found is not None:
                return found
            cert_path = self.directory / "signers" / f"{slug}.pem"
            key_path = self.directory / "signers" / f"{slug}.key.pem"
            if cert_path.is_file() and key_path.is_file():
                found = _identity(name, cert_path.read_bytes(), key_path.read_bytes())
            else:
                ca_key = self._ca_key
                if ca_key is None:  # self.pki above loads it with the CA
                    raise KeySourceError("the development CA's key is not loaded")
                found = issue_signer(pki, ca_key, subject)
                _write(key_path, _pem_key(found.key), secret=True)
                _write(cert_path, _pem_cert(found.cert))
            self._identities[slug] = found
            return found

    def signer_for(self, party: str, name: str | Subject) -> Identity | signers.Signer:
        """What signs for ``party``: a certificate and key, or the HSM's signer for the seal."""
        if party == "office" and self.pkcs11 is not None:
            return self._hsm_signer(self.pkcs11)
        return self.identity(party, name)

    def _hsm_signer(self, cfg: Pkcs11Seal) -> signers.Signer:
        pki = self.pki  # outside the lock: it takes the lock itself
        with self._lock:
            found = self._hsm
            if found is None:
                try:
                    session = pkcs11_signing.open_pkcs11_session(
                        str(cfg.module),
                        token_criteria=TokenCriteria(label=cfg.token),
                        user_pin=cfg.pin,
                    )
                except Exception as exc:  # the module's own errors name no setting
                    raise ValueError(
                        f"PKCS#11 token {cfg.token!r} in {cfg.module}: cannot open ({exc})"
                    ) from exc
                found = self._hsm = pkcs11_signing.PKCS11Signer(
                    session, cert_label=cfg.label, key_label=cfg.label, ca_chain=pki.chain
                )
            return found

    def _seal(self, path: Path) -> Identity:
        with self._lock:
            found = self._identities.get("p12-seal")
        if found is not None:
            return found
        key, cert, _chain = self._p12(path)
        found = _identity(
            cert.subject.rfc4514_string(),
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        with self._lock:
            self._identities["p12-seal"] = found
        return found


def _pem_blocks(data: bytes, label: bytes) -> list[bytes]:
    begin, end = b"-----BEGIN " + label + b"-----", b"-----END " + label + b"-----"
    blocks = []
    for chunk in data.split(begin)[1:]:
        blocks.append(begin + chunk.split(end)[0] + end + b"\n")
    return blocks


def _asn1_cert(cert: x509.Certificate) -> a_x509.Certificate:
    return a_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


_sources: dict[tuple[Any, ...], DevKeySource] = {}
_sources_lock = threading.Lock()


def key_source(
    var_dir: Path,
    *,
    seal_p12: Path | None = None,
    seal_password: str = "",
    trust_roots: Path | None = None,
    tsa_url: str | None = None,
    crls: Path | None = None,
    pkcs11: Pkcs11Seal | None = None,
) -> DevKeySource:
    """One key source per configuration and process."""
    directory = (var_dir / "pki").resolve()
    key = (directory, seal_p12, seal_password, trust_roots, tsa_url, crls, pkcs11)
    with _sources_lock:
        found = _sources.get(key)
        if found is None:
            found = _sources[key] = DevKeySource(
                directory, seal_p12, seal_password, trust_roots, tsa_url, crls, pkcs11
            )
        return found
