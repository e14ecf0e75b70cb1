"""JSON Schemas of user-task forms: ``forms/schemas/<programme>/<form_key>.schema.json``.

Each schema carries its labels in Arabic and French (``title``/``x-title-ar`` per property) so
the web pages can render the form in either language; the engine validates submissions here.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

SCHEMAS = Path(__file__).resolve().parent / "schemas"


class FormValidationError(ValueError):
    """A submission does not match its form; ``fields`` maps JSON paths to messages."""

    def __init__(self, form_key: str, fields: dict[str, str]) -> None:
        self.form_key = form_key
        self.fields = fields
        first = next(iter(fields.items()))
        super().__init__(f"form {form_key}: {first[0]}: {first[1]}")


#: dates a form accepts: a contract, a birth or a diploma outside these years is a typing error
#: (and a date like 9999-12-31 would break what is computed from it later)
EARLIEST = date(1900, 1, 1)
LATEST = date(2100, 12, 31)
#: integers beyond this lose precision in JSON readers and overflow the database's bigint
LARGEST_INTEGER = 2**53
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")

#: the messages a field error can carry (each has its Arabic and French text in api/locales)
NOT_FINITE = "must be a finite number"
TOO_LARGE = "this number is too large"
NOT_A_DATE = "not a valid date (YYYY-MM-DD)"
NOT_A_DATE_TIME = "not a valid date and time (ISO 8601 with a time zone)"
DATE_OUT_OF_RANGE = "the date must be between 1900-01-01 and 2100-12-31"
NOT_AN_EMAIL = "not a valid e-mail address"
BELOW_MINIMUM = "below the minimum the texts set for this contract"
ABOVE_MAXIMUM = "above the maximum the texts set for this contract"

#: a property's bound taken from the contract's dated parameters (``parameters.json``), not
#: written in the schema: ``"x-minimum-parameter": "employer_share"``, or, when the parameter
#: depends on a fact of the request, ``{"by": "diploma_level", "parameters": {"HIGHER_ED":
#: "…", "OTHER": "…"}}``. A parameter with no value on the contract's date sets no bound.
BOUNDS = {"x-minimum-parameter": BELOW_MINIMUM, "x-maximum-parameter": ABOVE_MAXIMUM}

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the "type" keyword reports a value of the wrong type
    if not _DATE.fullmatch(value):
        raise ValueError(NOT_A_DATE)
    day = date.fromisoformat(value)  # ValueError for 2026-02-30
    if not EARLIEST <= day <= LATEST:
        raise ValueError(DATE_OUT_OF_RANGE)
    return True


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value) or "T" not in value.upper():
        raise ValueError(NOT_A_DATE_TIME)
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(NOT_A_DATE_TIME)
    if not EARLIEST <= when.date() <= LATEST:
        raise ValueError(DATE_OUT_OF_RANGE)
    return True


@FORMATS.checks("email", raises=ValueError)
def _is_email(value: object) -> bool:
    if isinstance(value, str) and (len(value) > 254 or not _EMAIL.fullmatch(value)):
        raise ValueError(NOT_AN_EMAIL)
    return True


def _format_message(err: Any) -> str:
    """The field message of a failed keyword: ours for formats, jsonschema's otherwise."""
    if err.validator == "format":
        cause = err.cause
        if isinstance(cause, ValueError) and str(cause) in (
            NOT_A_DATE,
            NOT_A_DATE_TIME,
            DATE_OUT_OF_RANGE,
            NOT_AN_EMAIL,
        ):
            return str(cause)
        return {"date": NOT_A_DATE, "date-time": NOT_A_DATE_TIME, "email": NOT_AN_EMAIL}.get(
            str(err.validator_value), str(err.message)
        )
    return str(err.message)


def _hostile_numbers(value: Any, path: str, fields: dict[str, str]) -> None:
    """NaN, infinities (``1e999`` parses as one) and integers past 2**53, at any depth."""
    if isinstance(value, bool):
        return
    if isinstance(value, float) and not math.isfinite(value):
        fields.setdefault(path or "(root)", NOT_FINITE)
    elif isinstance(value, int) and abs(value) > LARGEST_INTEGER:
        fields.setdefault(path or "(root)", TOO_LARGE)
    elif isinstance(value, dict):
        for key, item in value.items():
            _hostile_numbers(item, f"{path}/{key}".strip("/"), fields)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _hostile_numbers(item, f"{path}/{index}".strip("/"), fields)


def _path(programme: str, form_key: str) -> Path:
    if not form_key.replace("_", "").replace("-", "").isalnum():
        raise KeyError(form_key)
    return SCHEMAS / programme / f"{form_key}.schema.json"


def has_form(programme: str, form_key: str) -> bool:
    try:
        return _path(programme, form_key).is_file()
    except KeyError:
        return False


@lru_cache(maxsize=512)
def _validator(programme: str, form_key: str) -> Draft202012Validator:
    schema = json.loads(_path(programme, form_key).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


def get_schema(programme: str, form_key: str) -> dict[str, Any]:
    schema = _validator(programme, form_key).schema
    if not isinstance(schema, dict):  # check_schema accepted a boolean schema
        raise TypeError(f"form {programme}/{form_key} is not a JSON object schema")
    return dict(schema)


def parameter_bounds(programme: str, form_key: str) -> bool:
    """Whether the form has a bound taken from the contract's parameters (:data:`BOUNDS`)."""
    properties = get_schema(programme, form_key).get("properties", {})
    return any(isinstance(spec, dict) and set(spec) & set(BOUNDS) for spec in properties.values())


def _parameter(rule: Any, contract: dict[str, Any]) -> Any:
    found = contract.get("params")
    params: dict[str, Any] = found if isinstance(found, dict) else {}
    if isinstance(rule, dict):
        rule = dict(rule.get("parameters", {})).get(str(contract.get(str(rule.get("by")))))
    return params.get(rule) if isinstance(rule, str) else None


def validate(
    programme: str,
    form_key: str,
    data: dict[str, Any],
    contract: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return ``data`` restricted to the form's properties, or raise FormValidationError.

    Besides the schema, every number must be finite (JSON Schema's ``minimum`` lets NaN
    through, and NaN is then stored as null) and every declared ``format`` is enforced
    (``date``, ``date-time``, ``email``), dates within :data:`EARLIEST`..:data:`LATEST`.
    With ``contract`` (the contract's start data, its ``params`` included), the bounds a
    property takes from the parameters (:data:`BOUNDS`) are enforced too.
    """
    validator = _validator(programme, form_key)
    fields: dict[str, str] = {}
    _hostile_numbers(data, "", fields)
    if fields:
        raise FormValidationError(form_key, fields)
    errors = (
        []
        if validator.is_valid(data)
        else sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    )
    if errors:
        for err in errors:
            path = "/".join(str(p) for p in err.absolute_path)
            if err.validator == "required" and isinstance(err.instance, dict):
                missing = [r for r in err.validator_value if r not in err.instance]
                for name in missing:
                    fields.setdefault(f"{path}/{name}".strip("/"), "required")
                continue
            fields.setdefault(path or "(root)", _format_message(err))
        raise FormValidationError(form_key, fields)
    schema = validator.schema
    properties: dict[str, Any] = schema.get("properties", {}) if isinstance(schema, dict) else {}
    clean = {k: v for k, v in data.items() if k in properties}
    for name, spec in properties.items():
        if name not in clean and isinstance(spec, dict) and "default" in spec:
            clean[name] = spec["default"]
    for name, spec in properties.items() if contract is not None else ():
        value = clean.get(name)
        if not isinstance(spec, dict) or isinstance(value, bool):
            continue
        for keyword, message in BOUNDS.items():
            bound = _parameter(spec.get(keyword), contract or {})
            if not isinstance(value, int | float) or not isinstance(bound, int | float):
                continue
            if (value < bound) if keyword == "x-minimum-parameter" else (value > bound):
                fields.setdefault(name, message)
    if fields:
        raise FormValidationError(form_key, fields)
    return clean
