"""User-supplied text in what Aqd renders: bidirectional control characters removed.

A name, title or file name carrying U+202E (RIGHT-TO-LEFT OVERRIDE) and its kin displays its
following characters reversed, and in the contract PDF the parties sign it can visually turn
an amount or a tax number around. Every Jinja2 environment that renders pages, documents or
reports finalises its output through :func:`finalize`, so no template can forget it; the
templates isolate mixed fragments themselves (``<bdi>``), which needs no control character.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

#: embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069)
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_DROP = dict.fromkeys(map(ord, BIDI_CONTROLS))


def strip_bidi_controls(text: str) -> str:
    """``text`` without bidirectional embedding, override or isolate characters."""
    return text.translate(_DROP)


def finalize(value: Any) -> Any:
    """Jinja2 ``finalize`` hook: every string a template prints loses its bidi controls."""
    if isinstance(value, Markup):
        return Markup(strip_bidi_controls(str(value)))  # noqa: S704 (was Markup; only removes)
    if isinstance(value, str):
        return strip_bidi_controls(value)
    return value
