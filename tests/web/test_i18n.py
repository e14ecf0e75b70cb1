"""Both catalogs hold every message the UI can show, with the same placeholders."""

from __future__ import annotations

import re

import pytest

from api import messages
from api.i18n import LOCALES, catalog, translator

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_is_complete(locale: str) -> None:
    assert messages.missing(locale) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_match(locale: str) -> None:
    for msgid, text in catalog(locale).items():
        assert set(_PLACEHOLDER.findall(text)) == set(_PLACEHOLDER.findall(msgid)), msgid


def test_the_extractor_sees_template_literals() -> None:
    found = messages.literal_ids()
    assert {"Sign in", "{count} open tasks", "Claim"} <= found
    assert "attendance" in messages.dynamic_ids()  # a user task of the processes


def test_formats_follow_the_language() -> None:
    ar, fr = translator("ar"), translator("fr")
    assert ar.dir == "rtl" and fr.dir == "ltr"
    assert "TND" in fr.amount(1234.5) or "DT" in fr.amount(1234.5)
    assert fr.date("2025-03-03") != ar.date("2025-03-03")
    assert translator("en").locale == "fr"  # unknown languages fall back to French
