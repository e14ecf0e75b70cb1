"""The OpenAPI document describes every successful ``/api/v1`` answer: each 2xx response
(but 204, which has no body) has a JSON schema that says what it holds. An empty schema, or an
object without properties, counts as missing, unless it is a map whose values are typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from api.app import create_app
from engine import Aqd, Settings

#: 2xx responses of /api/v1 checked on the day this test was written; the count may grow.
CHECKED_AT_LEAST = 56


def _app(tmp_path: Path) -> FastAPI:
    url = f"sqlite:///{tmp_path / 'openapi.db'}"  # never opened: the document needs no data
    return create_app(Aqd(url, settings=Settings(database_url=url)))


def vague(schema: dict[str, Any] | None, components: dict[str, Any]) -> str | None:
    """Why ``schema`` says nothing about a body (None when it is specific)."""
    if not schema:
        return "no schema"
    ref = schema.get("$ref")
    if ref is not None:
        if set(schema) - {"$ref", "description"}:
            return f"a $ref beside {sorted(set(schema) - {'$ref', 'description'})}"
        return vague(components[ref.rsplit("/", 1)[-1]], components)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            branches = [b for b in schema[key] if b.get("type") != "null"]
            found = [vague(b, components) for b in branches]
            return next((f for f in found if f), None) if branches else "only null"
    kind = schema.get("type")
    if kind == "array":
        inner = vague(schema.get("items"), components)
        return f"array of {inner}" if inner else None
    if kind == "object" or "properties" in schema:
        if schema.get("properties"):
            return None
        values = schema.get("additionalProperties")
        if isinstance(values, dict) and not vague(values, components):
            return None
        return "an object without properties"
    return None if kind else "no type"


def successful_bodies(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(every 2xx response of /api/v1 checked, those whose body is not described)."""
    components = doc.get("components", {}).get("schemas", {})
    checked, missing = [], []
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                label = f"{method.upper()} {path} {status}"
                if status == "204":
                    assert "content" not in response, label
                    continue
                checked.append(label)
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                why = vague(schema, components)
                if why:
                    missing.append(f"{label}: {why}")
    return checked, missing


def test_every_2xx_response_of_the_api_has_a_schema(tmp_path: Path) -> None:
    checked, missing = successful_bodies(_app(tmp_path).openapi())
    assert missing == []
    assert len(checked) >= CHECKED_AT_LEAST, checked


def test_a_route_without_a_response_model_is_found(tmp_path: Path) -> None:
    """The check fails on the shapes it is meant to catch."""
    app = _app(tmp_path)

    @app.get("/api/v1/planted/free")
    def free() -> dict[str, Any]:
        return {}

    @app.get("/api/v1/planted/list")
    def free_list() -> list[Any]:
        return []

    @app.get("/api/v1/planted/map")
    def typed_map() -> dict[str, int]:
        return {}

    _checked, missing = successful_bodies(app.openapi())
    assert missing == [
        "GET /api/v1/planted/free 200: an object without properties",
        "GET /api/v1/planted/list 200: array of no schema",
    ]
