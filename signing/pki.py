"""The development PKI: a root, an intermediate, per-signer certificates and a local TSA.

Built in memory for the tests (the e-signature issue adds storing it under ``var/pki/`` on first
run, never committed, and PKCS#12/PKCS#11 key sources for production). Signer keys are EC
P-256; the TSA key is RSA (pyHanko's ``DummyTimeStamper`` signs only with RSA,
notes/LIBRARIES.md §2). Every certificate names a CRL distribution point that is never fetched:
validation gets the (empty) CRL handed over, so signatures validate offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asn1crypto import crl as a_crl
from asn1crypto import keys as a_keys
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CRL_URL = "http://pki.aqd.invalid/crl/dev.crl"
_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass
class Identity:
    """A certificate and its private key, in the forms pyHanko wants."""

    name: str
    cert: a_x509.Certificate
    key: a_keys.PrivateKeyInfo


@dataclass
class DevPki:
    """The trust material signing and validation use: the development CA, plus what a
    deployment adds (``extra_roots``/``extra_certs`` for a seal issued by another CA, a
    ``tsa_url`` for an RFC 3161 time-stamping service instead of the local TSA)."""

    root: Identity
    intermediate: Identity
    tsa: Identity
    crl: a_crl.CertificateList
    extra_roots: list[a_x509.Certificate] = field(default_factory=list)
    extra_certs: list[a_x509.Certificate] = field(default_factory=list)
    extra_crls: list[a_crl.CertificateList] = field(default_factory=list)
    tsa_url: str | None = None

    @property
    def chain(self) -> list[a_x509.Certificate]:
        return [self.intermediate.cert, self.root.cert, *self.extra_certs, *self.extra_roots]


@dataclass(frozen=True)
class Subject:
    """Whom a signer's certificate names: the legal name (CN), the role (OU) and, when known,
    the person's identifier (serialNumber), the organisation's name and identifier
    (organizationName, organizationIdentifier: ETSI EN 319 412-1 semantics)."""

    common_name: str
    role: str
    serial_number: str = ""
    organization: str = ""
    organization_identifier: str = ""

    def key(self) -> str:
        """Stable across runs: the signer's kept certificate is found by it."""
        return "\n".join(
            (
                self.role,
                self.common_name,
                self.serial_number,
                self.organization,
                self.organization_identifier,
            )
        )


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "TN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Aqd development PKI"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _subject_name(subject: Subject) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "TN")]
    attributes.append(
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject.organization or "Aqd development PKI")
    )
    if subject.organization_identifier:
        attributes.append(
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, subject.organization_identifier)
        )
    attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, subject.role))
    if subject.serial_number:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, subject.serial_number))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, subject.common_name[:64]))
    return x509.Name(attributes)


def to_identity(cert: x509.Certificate, key: _PrivateKey, name: str) -> Identity:
    """A certificate and key from ``cryptography`` in the forms pyHanko wants."""
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Identity(
        name=name,
        cert=a_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        key=a_keys.PrivateKeyInfo.load(der_key),
    )


def _certificate(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: x509.Name,
    issuer_key: _PrivateKey,
    *,
    ca: bool,
    now: datetime,
    days: int,
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    # CAs sign certificates and CRLs; end entities sign documents (non-repudiation).
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    if not ca:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(CRL_URL)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    builder = builder.add_extension(usage, critical=True)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def create_dev_pki(now: datetime | None = None) -> tuple[DevPki, dict[str, _PrivateKey]]:
    """A fresh root, intermediate and TSA. Returns the PKI and the CA keys (to issue more)."""
    now = now or datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Aqd development root", "root")
    root = _certificate(
        root_name, root_key.public_key(), root_name, root_key, ca=True, now=now, days=3650
    )
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter_name = _name("Aqd development signers", "intermediate")
    inter = _certificate(
        inter_name, inter_key.public_key(), root_name, root_key, ca=True, now=now, days=1825
    )
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa = _certificate(
        _name("Aqd development TSA", "tsa"),
        tsa_key.public_key(),
        root_name,
        root_key,
        ca=False,
        now=now,
        days=1825,
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(inter_name)
        .last_update(now - timedelta(days=1))
        .next_update(now + timedelta(days=365))
        .sign(inter_key, hashes.SHA256())
    )
    pki = DevPki(
        root=to_identity(root, root_key, "root"),
        intermediate=to_identity(inter, inter_key, "intermediate"),
        tsa=to_identity(tsa, tsa_key, "tsa"),
        crl=a_crl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER)),
    )
    return pki, {"root": root_key, "intermediate": inter_key}


def issue_signer(
    pki: DevPki,
    intermediate_key: _PrivateKey,
    common_name: str | Subject,
    role: str = "",
    now: datetime | None = None,
) -> Identity:
    """A signing certificate for a person or an organisation (``role`` goes in the OU); a
    :class:`Subject` names the signer's verified identity too."""
    now = now or datetime.now(UTC)
    subject = common_name if isinstance(common_name, Subject) else Subject(common_name, role)
    common_name = subject.common_name
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.load_der_x509_certificate(pki.intermediate.cert.dump()).subject
    cert = _certificate(
        _subject_name(subject),
        key.public_key(),
        issuer,
        intermediate_key,
        ca=False,
        now=now,
        days=825,
    )
    return to_identity(cert, key, common_name)
