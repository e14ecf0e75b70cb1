"""Arabic and French for everything a user sees: gettext catalogs read with Babel, locale-aware
dates and amounts, and the text direction of each language.

Catalogs live in ``api/locales/<lang>/LC_MESSAGES/messages.po`` with English message ids; they
are parsed at start-up (no compile step, so ``make run`` stays one command).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

LOCALES = ("ar", "fr")
DEFAULT_LOCALE = "fr"
BABEL_LOCALE = {"ar": "ar_TN", "fr": "fr_TN"}
TUNIS = ZoneInfo("Africa/Tunis")
CATALOGS = Path(__file__).resolve().parent / "locales"


@lru_cache(maxsize=len(LOCALES))
def catalog(locale: str) -> dict[str, str]:
    path = CATALOGS / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        po = read_po(fh, locale=BABEL_LOCALE[locale])
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


def reason_labels(code: str) -> dict[str, str]:
    """A refusal's reason code in every language (``reason:CODE`` in the catalogues)."""
    return {locale: catalog(locale).get(f"reason:{code}", code) for locale in LOCALES}


def normalise(locale: str | None) -> str:
    value = (locale or "").split("-")[0].split("_")[0].lower()
    return value if value in LOCALES else DEFAULT_LOCALE


class Translator:
    """``_`` and the formatters of one language, handed to every template."""

    def __init__(self, locale: str) -> None:
        self.locale = normalise(locale)
        self.babel = Locale.parse(BABEL_LOCALE[self.locale])
        self.messages = catalog(self.locale)
        self.dir = "rtl" if self.locale == "ar" else "ltr"

    def gettext(self, message: str, **values: Any) -> str:
        text = self.messages.get(message, message)
        return text.format(**values) if values else text

    def datetime(self, value: datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        when = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(when, "medium", tzinfo=TUNIS, locale=self.babel)

    def date(self, value: date | str | None) -> str:
        if value is None or value == "":
            return ""
        day = date.fromisoformat(value[:10]) if isinstance(value, str) else value
        return format_date(day, "medium", locale=self.babel)

    def amount(self, value: float | int | None) -> str:
        if value is None:
            return ""
        return format_currency(value, "TND", locale=self.babel)

    def number(self, value: float | int) -> str:
        return format_decimal(value, locale=self.babel)

    def label(self, spec: dict[str, Any], fallback: str) -> str:
        """A JSON Schema title in this language (``title`` is French, ``x-title-ar`` Arabic)."""
        if self.locale == "ar" and spec.get("x-title-ar"):
            return str(spec["x-title-ar"])
        return str(spec.get("title") or fallback)

    def localized(self, names: dict[str, str] | None, fallback: str = "") -> str:
        if not names:
            return fallback
        return names.get(self.locale) or names.get(DEFAULT_LOCALE) or fallback


def translator(locale: str | None) -> Translator:
    return _translator(normalise(locale))


@lru_cache(maxsize=len(LOCALES))
def _translator(locale: str) -> Translator:
    return Translator(locale)


Gettext = Callable[..., str]
