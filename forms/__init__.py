"""Forms: JSON Schemas of user tasks (bilingual labels) and their validation."""

from forms.registry import FormValidationError, get_schema, has_form, parameter_bounds, validate

__all__ = ["FormValidationError", "get_schema", "has_form", "parameter_bounds", "validate"]
