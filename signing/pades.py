"""PAdES signing and validation with pyHanko (the only module family that imports it).

A contract PDF gets its visible signature fields up front; each party then signs its field in an
incremental update: PAdES B-T (signature time-stamp) for persons, B-LTA for the agency seal
(validation data embedded, then a document time-stamp), and the seal locks the document.
Validation reports, per signature, the signer, time, integrity, trust, coverage and whether the
document was modified after it in any way other than filling fields or adding LTA data.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from asn1crypto import cms, core
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.fields import (
    FieldMDPAction,
    FieldMDPSpec,
    MDPPerm,
    SigFieldSpec,
    SigSeedSubFilter,
)
from pyhanko.sign.general import (
    SigningError,
    as_signing_certificate,
    simple_cms_attribute,
)
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.pki import DevPki, Identity

# pyHanko logs whole tracebacks at ERROR while it analyses suspicious changes; the verdict is
# in the report, so keep the log quiet.
logging.getLogger("pyhanko").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Field:
    name: str
    box: tuple[int, int, int, int]
    page: int = 0
    locks_document: bool = False


@dataclass
class SignatureCheck:
    """One signature (or document time-stamp) of a PDF, as validated."""

    field: str
    kind: str
    signer: str
    signed_at: datetime | None
    intact: bool
    valid: bool
    trusted: bool
    modification: str
    ok: bool


def minimal_pdf(title: str) -> bytes:
    """A one-page PDF (used until the contract documents of the programme issue exist)."""
    text = title.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 14 Tf 72 760 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def add_fields(pdf: bytes, wanted: list[Field]) -> bytes:
    """Append the visible signature fields, in one incremental update."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for spec in wanted:
        field_spec = SigFieldSpec(
            spec.name,
            on_page=spec.page,
            box=spec.box,
            field_mdp_spec=FieldMDPSpec(FieldMDPAction.ALL) if spec.locks_document else None,
            doc_mdp_update_value=MDPPerm.NO_CHANGES if spec.locks_document else None,
        )
        fields.append_signature_field(writer, field_spec)
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _context(pki: DevPki) -> ValidationContext:
    return ValidationContext(
        trust_roots=[pki.root.cert, *pki.extra_roots],
        other_certs=[pki.intermediate.cert, *pki.extra_certs],
        crls=[pki.crl, *pki.extra_crls],
        allow_fetching=False,
    )


_signers: dict[bytes, signers.SimpleSigner] = {}
_timestampers: dict[bytes, timestamps.TimeStamper] = {}
_cache_lock = threading.Lock()


def _signer(identity: Identity, pki: DevPki) -> signers.SimpleSigner:
    """One pyHanko signer per certificate (building it costs a third of a signature)."""
    key = identity.cert.sha256
    with _cache_lock:
        found = _signers.get(key)
        if found is None:
            registry = SimpleCertificateStore.from_certs(pki.chain)  # type: ignore[no-untyped-call]
            found = _signers[key] = signers.SimpleSigner(
                signing_cert=identity.cert, signing_key=identity.key, cert_registry=registry
            )
        return found


def _timestamper(pki: DevPki) -> timestamps.TimeStamper:
    key = pki.tsa_url.encode() if pki.tsa_url else pki.tsa.cert.sha256
    with _cache_lock:
        found = _timestampers.get(key)
        if found is None and pki.tsa_url:
            found = _timestampers[key] = RequestsHTTPTimeStamper(pki.tsa_url, timeout=10)  # type: ignore[no-untyped-call]
        if found is None:
            embed = SimpleCertificateStore.from_certs([pki.root.cert])  # type: ignore[no-untyped-call]
            found = _timestampers[key] = _LocalTsa(
                tsa_cert=pki.tsa.cert, tsa_key=pki.tsa.key, certs_to_embed=embed
            )
        return found


def _attr(name: str, value: Any) -> cms.CMSAttribute:
    return simple_cms_attribute(name, value)  # type: ignore[no-untyped-call]


class _LocalTsa(timestamps.DummyTimeStamper):
    """The development TSA (RFC 3161 tokens signed in-process), with its RSA key parsed once:
    pyHanko's DummyTimeStamper parses it for every token, and cryptography checks an RSA key
    at each load (70 ms, a fifth of a signature)."""

    def __init__(self, *, tsa_cert: Any, tsa_key: Any, certs_to_embed: Any) -> None:
        super().__init__(tsa_cert=tsa_cert, tsa_key=tsa_key, certs_to_embed=certs_to_embed)
        key = serialization.load_der_private_key(tsa_key.dump(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the development TSA signs with RSA")
        self._rsa = key

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        # The signed attributes RFC 3161 and RFC 5035 require of a time-stamp token.
        signed_attrs = cms.CMSAttributes(
            [
                _attr("content_type", "tst_info"),
                _attr("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                _attr("signing_certificate", as_signing_certificate(self.tsa_cert)),
                _attr("message_digest", hashlib.new(md_algorithm, tst_info_data).digest()),
            ]
        )
        digest: hashes.HashAlgorithm = getattr(hashes, md_algorithm.upper().replace("-", "_"))()
        return self._rsa.sign(signed_attrs.dump(), PKCS1v15(), digest), signed_attrs


#: Room for the CMS container, in hex digits (twice its DER size). The signer's chain of three
#: certificates and an RSA time-stamp token took 4,605-4,614 bytes of DER in every signature
#: of the demo (measured 2026-12-01); 7,000 bytes leave half as much again. A larger container
#: (a longer chain, a bigger token) is sized by pyHanko instead (``sign``). Every validation
#: reads the whole room one byte at a time, so 12,000 bytes cost each one a third of its time.
RESERVED = 14_000


def sign(
    pdf: bytes,
    field: str,
    signer: Identity | signers.Signer,
    pki: DevPki,
    *,
    reason: str,
    location: str = "Tunis",
    long_term: bool = False,
) -> bytes:
    """Sign ``field`` (B-T; ``long_term`` for B-LTA) and return the new revision's bytes.
    ``signer`` is a certificate and key (``Identity``) or a pyHanko signer holding its key
    elsewhere (an HSM through PKCS#11)."""
    meta = signers.PdfSignatureMetadata(
        field_name=field,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        embed_validation_info=long_term,
        use_pades_lta=long_term,
        validation_context=_context(pki) if long_term else None,
    )
    if isinstance(signer, Identity):
        cms_signer: signers.Signer = _signer(signer, pki)
        arabic = _has_arabic(signer.name)
    else:  # a key that never leaves its device (PKCS#11)
        cms_signer, arabic = signer, False
    pdf_signer = signers.PdfSigner(
        meta,
        signer=cms_signer,
        timestamper=_timestamper(pki),
        stamp_style=_stamp_style() if arabic else None,
    )
    out = io.BytesIO()
    try:
        # Reserving the room up front spares pyHanko a dry-run signature (with its own
        # time-stamp) that only measures the container: a third of the time of a signature.
        pdf_signer.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)), bytes_reserved=RESERVED, output=out
        )
    except SigningError:  # a container larger than the room (a long chain): let pyHanko size it
        out = io.BytesIO()
        pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
    return out.getvalue()


# The visible stamp: the signer's name on its own line (HarfBuzz guesses the direction per
# line, so an Arabic name is shaped right to left), then the signing time, in a font that has
# Arabic and Latin glyphs (Debian's fonts-noto-core).
STAMP_FONTS = (
    Path("/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf"),
    Path("/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf"),
)


def _has_arabic(text: str) -> bool:
    """Embedding a font subset costs ~0.2 s a signature, so Latin-only names keep pyHanko's
    built-in stamp font and only names with Arabic letters get Noto."""
    return any("\u0600" <= ch <= "\u06ff" or "\ufb50" <= ch <= "\ufeff" for ch in text)


@lru_cache(maxsize=1)
def _stamp_style() -> TextStampStyle | None:
    font = next((f for f in STAMP_FONTS if f.is_file()), None)
    if font is None:
        return None  # pyHanko's default stamp (Latin only)
    return TextStampStyle(
        stamp_text="%(signer)s\n%(ts)s",
        text_box_style=TextBoxStyle(font=_InMemoryFont(font.read_bytes()), font_size=9),
    )


@dataclass(frozen=True)
class _InMemoryFont(FontEngineFactory):
    """pyHanko's GlyphAccumulatorFactory opens the font file for every stamp and never closes
    it; this one keeps the font's bytes and hands each stamp its own in-memory handle."""

    data: bytes
    font_size: int = 9

    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: Any = None
    ) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]
        return GlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(self.data),
            font_size=self.font_size,
            obj_stream=obj_stream,
        )


def verify(pdf: bytes, pki: DevPki) -> list[SignatureCheck]:
    """Validate every signature and document time-stamp of ``pdf`` against the dev root."""
    reader = PdfFileReader(io.BytesIO(pdf))
    checks: list[SignatureCheck] = []
    for embedded in reader.embedded_signatures:
        if embedded.sig_object_type == "/DocTimeStamp":
            stamp = validate_pdf_timestamp(embedded, validation_context=_context(pki))
            checks.append(
                SignatureCheck(
                    field=embedded.field_name or "",
                    kind="timestamp",
                    signer="TSA",
                    signed_at=stamp.timestamp,
                    intact=bool(stamp.intact),
                    valid=bool(stamp.valid),
                    trusted=bool(stamp.trusted),
                    modification="none",
                    ok=bool(stamp.intact and stamp.valid and stamp.trusted),
                )
            )
            continue
        status = validate_pdf_signature(embedded, signer_validation_context=_context(pki))
        level = status.modification_level
        checks.append(
            SignatureCheck(
                field=embedded.field_name or "",
                kind="signature",
                signer=str(status.signing_cert.subject.human_friendly),
                signed_at=status.timestamp_validity.timestamp
                if status.timestamp_validity
                else None,
                intact=bool(status.intact),
                valid=bool(status.valid),
                trusted=bool(status.trusted),
                modification=level.name if level is not None else "none",
                ok=bool(status.bottom_line),
            )
        )
    return checks


# -- time-stamps over a digest (the anchors of the contracts' hash chains) ----------------------


@dataclass(frozen=True)
class TokenCheck:
    """An RFC 3161 time-stamp token checked against the digest it should cover."""

    stamped_at: datetime | None
    problem: str | None  # None: intact, valid and from a trusted TSA


def timestamp_digest(digest: bytes, pki: DevPki) -> bytes:
    """An RFC 3161 time-stamp token (DER) over a SHA-256 ``digest``, from the configured TSA
    (``AQD_SIGNING_TSA_URL``) or the development one."""
    if len(digest) != 32:
        raise ValueError("a SHA-256 digest is 32 bytes")
    token = asyncio.run(_timestamper(pki).async_timestamp(digest, "sha256"))
    return bytes(token.dump())


def check_timestamp_token(token: bytes, digest: bytes, pki: DevPki) -> TokenCheck:
    """Whether ``token`` is a valid time-stamp over ``digest`` by a TSA the PKI trusts."""
    try:
        info = cms.ContentInfo.load(token)
        signed = info["content"]
        kwargs = asyncio.run(
            validate_tst_signed_data(
                signed,
                _context(pki),
                # the token must be over the SHA-256 root (another algorithm never matches)
                lambda algorithm: digest if algorithm == "sha256" else b"",
            )
        )
        status = TimestampSignatureStatus(**kwargs)
    except Exception as exc:  # an unreadable token is a verdict, not a crash
        return TokenCheck(None, f"the time-stamp token cannot be read ({type(exc).__name__})")
    if not status.intact:
        return TokenCheck(status.timestamp, "the time-stamp token is not over this root")
    if not status.valid:
        return TokenCheck(status.timestamp, "the time-stamp token's signature is not valid")
    if not status.trusted:
        return TokenCheck(status.timestamp, "the time-stamp token's TSA is not trusted")
    return TokenCheck(status.timestamp, None)
