"""Every form field against hostile values: non-finite and huge numbers, impossible dates.

The schemas are walked, so a new form or field is covered as soon as it exists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.i18n import LOCALES, catalog
from forms import registry
from forms.registry import (
    DATE_OUT_OF_RANGE,
    NOT_A_DATE,
    NOT_A_DATE_TIME,
    NOT_AN_EMAIL,
    NOT_FINITE,
    TOO_LARGE,
    FormValidationError,
)

HOSTILE_NUMBERS = [
    (math.nan, NOT_FINITE),
    (math.inf, NOT_FINITE),
    (-math.inf, NOT_FINITE),
    (json.loads("1e999"), NOT_FINITE),
    (10**400, TOO_LARGE),
    (-(2**60), TOO_LARGE),
]
HOSTILE_DATES = [
    ("2026-02-30", NOT_A_DATE),
    ("2025-13-01", NOT_A_DATE),
    ("not-a-date", NOT_A_DATE),
    ("2025-3-1", NOT_A_DATE),
    ("01/03/2025", NOT_A_DATE),
    ("9999-12-31", DATE_OUT_OF_RANGE),
    ("0001-01-01", DATE_OUT_OF_RANGE),
    ("1899-12-31", DATE_OUT_OF_RANGE),
    ("2101-01-01", DATE_OUT_OF_RANGE),
]


def fields() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for path in sorted(registry.SCHEMAS.rglob("*.schema.json")):
        programme = path.parent.name
        form_key = path.name.removesuffix(".schema.json")
        schema = json.loads(path.read_text(encoding="utf-8"))
        for name, spec in schema.get("properties", {}).items():
            if isinstance(spec, dict):
                yield programme, form_key, name, spec


def types(spec: dict[str, Any]) -> set[str]:
    kind = spec.get("type", "string")
    return {kind} if isinstance(kind, str) else set(kind)


NUMBER_FIELDS = [f for f in fields() if types(f[3]) & {"integer", "number"}]
DATE_FIELDS = [f for f in fields() if f[3].get("format") == "date"]


def refusal(programme: str, form_key: str, data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(FormValidationError) as caught:
        registry.validate(programme, form_key, data)
    return caught.value.fields


def problems(programme: str, form_key: str, data: dict[str, Any]) -> dict[str, str]:
    """The fields a submission is refused on (none when it is accepted)."""
    try:
        registry.validate(programme, form_key, data)
    except FormValidationError as exc:
        return exc.fields
    return {}


def test_the_walk_finds_the_forms() -> None:
    assert len(NUMBER_FIELDS) >= 15
    assert len(DATE_FIELDS) >= 15


@pytest.mark.parametrize(("programme", "form_key", "name", "spec"), NUMBER_FIELDS)
def test_every_number_field_refuses_non_finite_and_huge_values(
    programme: str, form_key: str, name: str, spec: dict[str, Any]
) -> None:
    for value, message in HOSTILE_NUMBERS:
        assert refusal(programme, form_key, {name: value}).get(name) == message, value


@pytest.mark.parametrize(("programme", "form_key", "name", "spec"), DATE_FIELDS)
def test_every_date_field_refuses_impossible_and_unrealistic_dates(
    programme: str, form_key: str, name: str, spec: dict[str, Any]
) -> None:
    for value, message in HOSTILE_DATES:
        assert refusal(programme, form_key, {name: value}).get(name) == message, value
    # a real date is not refused on that field (other fields may still be missing)
    assert name not in problems(programme, form_key, {name: "2025-03-01"})


def test_nested_values_are_checked_at_any_depth() -> None:
    found: dict[str, str] = {}
    registry._hostile_numbers({"a": [1, {"b": math.nan}], "c": True}, "", found)
    assert found == {"a/1/b": NOT_FINITE}


@pytest.fixture
def formats_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A form with the formats no shipped schema uses yet (date-time, email)."""
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "contact.schema.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "at": {"type": "string", "format": "date-time"},
                    "email": {"type": "string", "format": "email"},
                },
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(registry, "SCHEMAS", tmp_path)
    registry._validator.cache_clear()
    yield "probe"
    registry._validator.cache_clear()


def test_date_time_and_email_formats_are_enforced(formats_form: str) -> None:
    for at, message in [
        ("2025-03-01", NOT_A_DATE_TIME),
        ("2025-03-01T10:00:00", NOT_A_DATE_TIME),  # no time zone
        ("2025-02-30T10:00:00+01:00", NOT_A_DATE_TIME),
        ("9999-12-31T23:59:59+00:00", DATE_OUT_OF_RANGE),
    ]:
        assert refusal(formats_form, "contact", {"at": at}) == {"at": message}, at
    for email in ["no-at-sign", "a@b", "a b@c.tn", "@aneti.tn", "x" * 65 + "@aneti.tn"]:
        assert refusal(formats_form, "contact", {"email": email}) == {"email": NOT_AN_EMAIL}
    assert registry.validate(
        formats_form, "contact", {"at": "2025-03-01T10:00:00+01:00", "email": "amel@aneti.tn"}
    ) == {"at": "2025-03-01T10:00:00+01:00", "email": "amel@aneti.tn"}


@pytest.mark.parametrize("locale", LOCALES)
def test_every_field_message_is_in_the_catalogue(locale: str) -> None:
    messages = catalog(locale)
    for message in (
        NOT_FINITE,
        TOO_LARGE,
        NOT_A_DATE,
        NOT_A_DATE_TIME,
        DATE_OUT_OF_RANGE,
        NOT_AN_EMAIL,
    ):
        assert messages.get(message), message
