"""JSON Schemas of user-task forms: ``forms/schemas/<programme>/<form_key>.schema.json``.

Each schema carries its labels in Arabic and French (``title``/``x-title-ar`` per property) so
the web pages can render the form in either language; the engine validates submissions here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).resolve().parent / "schemas"


class FormValidationError(ValueError):
    """A submission does not match its form; ``fields`` maps JSON paths to messages."""

    def __init__(self, form_key: str, fields: dict[str, str]) -> None:
        self.form_key = form_key
        self.fields = fields
        first = next(iter(fields.items()))
        super().__init__(f"form {form_key}: {first[0]}: {first[1]}")


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
    return Draft202012Validator(schema)


def get_schema(programme: str, form_key: str) -> dict[str, Any]:
    schema = _validator(programme, form_key).schema
    assert isinstance(schema, dict)
    return dict(schema)


def validate(programme: str, form_key: str, data: dict[str, Any]) -> dict[str, Any]:
    """Return ``data`` restricted to the form's properties, or raise FormValidationError."""
    validator = _validator(programme, form_key)
    errors = (
        []
        if validator.is_valid(data)
        else sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    )
    if errors:
        fields: dict[str, str] = {}
        for err in errors:
            path = "/".join(str(p) for p in err.absolute_path)
            if err.validator == "required" and isinstance(err.instance, dict):
                missing = [r for r in err.validator_value if r not in err.instance]
                for name in missing:
                    fields.setdefault(f"{path}/{name}".strip("/"), "required")
                continue
            fields.setdefault(path or "(root)", err.message)
        raise FormValidationError(form_key, fields)
    schema = validator.schema
    properties: dict[str, Any] = schema.get("properties", {}) if isinstance(schema, dict) else {}
    clean = {k: v for k, v in data.items() if k in properties}
    for name, spec in properties.items():
        if name not in clean and isinstance(spec, dict) and "default" in spec:
            clean[name] = spec["default"]
    return clean
