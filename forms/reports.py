"""Printable reports: bilingual (French, then Arabic right to left) PDFs rendered with
WeasyPrint from Jinja2 templates in ``forms/templates/reports/``.

The engine hands plain data (an audit verification, a month's analytics); this module only
lays it out. Both languages are in the same document, as in the contract document
(``signing/documents.py``); dates, numbers and identifiers inside Arabic text are isolated with
``<bdi dir="ltr">`` so the bidi algorithm does not reorder them. Fonts: Noto Sans and Noto Sans
Arabic (Debian's ``fonts-noto-core``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from forms.pdf import html_to_pdf
from forms.text import finalize

TEMPLATES = Path(__file__).resolve().parent / "templates" / "reports"
_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    finalize=finalize,
)


def render_html(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def render_pdf(template: str, **context: Any) -> bytes:
    """Render ``template`` (a file in ``forms/templates/reports/``) to PDF bytes."""
    return html_to_pdf(render_html(template, **context), base_url=str(TEMPLATES))
