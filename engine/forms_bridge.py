"""Form validation for task submissions, with errors in the engine's vocabulary."""

from __future__ import annotations

from typing import Any

import forms
from engine.errors import InvalidInput


def validate(
    programme: str,
    form_key: str,
    data: dict[str, Any],
    contract: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate ``data`` against the task's form and keep only the form's fields; with
    ``contract`` (its start data and parameters), the bounds the form takes from the
    parameters too."""
    if not form_key or not forms.has_form(programme, form_key):
        raise InvalidInput(f"task form {form_key!r} of programme {programme} is unknown")
    try:
        return forms.validate(programme, form_key, data, contract)
    except forms.FormValidationError as exc:
        raise InvalidInput(str(exc), fields=exc.fields) from None


def schema(programme: str, form_key: str) -> dict[str, Any]:
    """The JSON Schema of a form (with its Arabic/French labels); KeyError if unknown."""
    if not form_key or not forms.has_form(programme, form_key):
        raise KeyError(f"{programme}/{form_key}")
    return forms.get_schema(programme, form_key)


def parameter_bounds(programme: str, form_key: str) -> bool:
    """Whether the form reads a bound from the contract's parameters."""
    return (
        bool(form_key)
        and forms.has_form(programme, form_key)
        and (forms.parameter_bounds(programme, form_key))
    )
