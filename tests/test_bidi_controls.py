"""Bidirectional control characters from user text never reach a page, document or report."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from api.pages.common import TEMPLATES
from forms import reports
from forms.text import BIDI_CONTROLS, finalize, strip_bidi_controls
from signing import documents

HOSTILE = "Société \u202eDNT 0051\u202c SARL \u2067x\u2069"


@pytest.mark.parametrize(
    "env",
    [TEMPLATES.env, documents._env, reports._env],
    ids=["pages", "contract document", "reports"],
)
def test_every_environment_drops_bidi_controls(env: object) -> None:
    template = env.from_string("<p>{{ name }}</p><p>{{ safe }}</p>")  # type: ignore[attr-defined]
    html = template.render(name=HOSTILE, safe=Markup("<b>\u202e1500</b>"))
    assert not BIDI_CONTROLS & set(html), ascii(html)
    assert "Société DNT 0051 SARL x" in html
    assert "<b>1500</b>" in html  # markup stays markup


def test_strip_keeps_arabic_and_marks() -> None:
    text = "عقد\u200f CIVP \u200e2025"  # RLM/LRM are marks, not overrides: kept
    assert strip_bidi_controls(text) == text
    assert finalize(42) == 42
