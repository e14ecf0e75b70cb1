"""HTTP API and web pages (FastAPI). Calls the engine façade; holds no business logic.

``create_app`` is imported on first use: the ``aqd`` commands live in ``api.cli`` and only
``aqd serve`` needs the application (FastAPI, the pages, pyHanko through the signing pages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from api.app import create_app  # noqa: PLC0415 (FastAPI loads on first use of create_app)

        return create_app
    raise AttributeError(f"module 'api' has no attribute {name!r}")
