"""The contract document: a bilingual (French, then Arabic right-to-left) PDF rendered with
WeasyPrint from the contract's parties and terms, with one empty signature field per party
(beneficiary, employer, office), ready for the PAdES signatures.

Dates, numbers and identifiers inside Arabic text are isolated (``<bdi dir="ltr">``): without
it the bidi algorithm prints ``2025-01-15`` as ``15-01-2025``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from forms.pdf import html_to_pdf
from forms.text import finalize
from signing.pades import Field, add_fields

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(), finalize=finalize
)
# In points on A4 (595 x 842): the page's bottom margin is 2.2 cm (62 pt), the signature row
# 3 cm (85 pt) high over the 1.8 cm side margins, split in three (template's .signatures).
SIGNATURE_FIELDS = (
    Field("beneficiary", (55, 64, 213, 145)),
    Field("employer", (219, 64, 377, 145)),
    Field("office", (383, 64, 541, 145)),
)


@dataclass(frozen=True)
class ContractDocument:
    pdf: bytes
    sha256: str
    fields: tuple[str, ...]


def render(terms: dict[str, Any]) -> ContractDocument:
    """Render the contract; ``terms`` comes from ``engine.inbox.contract_terms``."""
    html = _env.get_template("contract.html").render(c=terms)
    pdf = html_to_pdf(html, base_url=str(TEMPLATES))
    fields = [Field(f.name, f.box, page=-1) for f in SIGNATURE_FIELDS]  # -1: the last page
    with_fields = add_fields(pdf, fields)
    return ContractDocument(
        pdf=with_fields,
        sha256=hashlib.sha256(with_fields).hexdigest(),
        fields=tuple(f.name for f in fields),
    )
