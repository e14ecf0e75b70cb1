"""Task forms rendered from their JSON Schema, and browser form posts turned back into JSON.

The schema is the single source: the same document validates the submission in the engine, so a
field the page shows is exactly a field the engine accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.i18n import Translator

TEXTAREA_MIN_LENGTH = 300


@dataclass
class Field:
    name: str
    label: str
    widget: str  # text, textarea, number, integer, checkbox, select, date
    required: bool
    value: Any = None
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None


def _types(spec: dict[str, Any]) -> list[str]:
    kind = spec.get("type", "string")
    return [kind] if isinstance(kind, str) else [str(k) for k in kind]


def _widget(spec: dict[str, Any]) -> str:
    if spec.get("x-upload"):
        return "file"
    types = [t for t in _types(spec) if t != "null"]
    kind = types[0] if types else "string"
    if "enum" in spec:
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return kind
    if spec.get("format") == "date":
        return "date"
    if int(spec.get("maxLength", 0)) >= TEXTAREA_MIN_LENGTH:
        return "textarea"
    return "text"


def fields_of(
    schema: dict[str, Any],
    t: Translator,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> list[Field]:
    values = values or {}
    errors = errors or {}
    required = set(schema.get("required", []))
    out: list[Field] = []
    for name, spec in schema.get("properties", {}).items():
        if name in skip or not isinstance(spec, dict):
            continue
        widget = _widget(spec)
        value = values.get(name, spec.get("default"))
        if widget == "file":
            value = None  # a browser cannot pre-fill a file input
        options = [(str(v), t.gettext(str(v))) for v in spec.get("enum", []) if v is not None]
        error = errors.get(name, "")
        out.append(
            Field(
                name=name,
                label=t.label(spec, name),
                widget=widget,
                required=name in required and widget != "checkbox",
                value=value,
                options=options,
                error=t.gettext("This field is required.")
                if error == "required"
                else t.gettext(error),
                minimum=spec.get("minimum"),
                maximum=spec.get("maximum"),
                max_length=spec.get("maxLength"),
                pattern=spec.get("pattern"),
            )
        )
    return out


def coerce(schema: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """Browser strings to JSON values by each property's type; unknown names are dropped.

    Values that cannot be converted are passed through as strings so the schema check reports
    them on their field instead of this function guessing.
    """
    data: dict[str, Any] = {}
    for name, spec in schema.get("properties", {}).items():
        if not isinstance(spec, dict) or spec.get("x-upload"):
            continue  # files arrive as uploads, not as form strings
        types = _types(spec)
        raw = form.get(name)
        if "boolean" in types and "enum" not in spec:
            data[name] = raw in ("on", "true", "1", "yes")
            continue
        if raw is None:
            continue
        raw = raw.strip()
        if raw == "":
            if "null" in types:
                data[name] = None
            continue
        if "integer" in types:
            try:
                data[name] = int(raw)
            except ValueError:
                data[name] = raw
        elif "number" in types:
            try:
                number = float(raw.replace(",", "."))
                data[name] = int(number) if number.is_integer() else number
            except ValueError:
                data[name] = raw
        else:
            data[name] = raw
    return data
