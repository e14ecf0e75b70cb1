"""HTTP API and web pages (FastAPI). Calls the engine façade; holds no business logic."""

from api.app import create_app

__all__ = ["create_app"]
