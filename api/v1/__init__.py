"""The JSON API (``/api/v1``): everything the pages do, for scripts and other systems.

One module per area, each a module-level ``router`` of plain endpoint functions. Every route
states the role and scope it needs (scoping lives in the engine, so the pages and this API
cannot drift apart), declares its response model (``api/v1/schemas.py`` and each area's
models) and its errors, which have one shape, ``{"error", "detail", "fields"}``.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.v1 import (
    account,
    analytics,
    companies,
    contracts,
    definitions,
    migrations,
    notifications,
    signing,
    simulation,
    tasks,
    verification,
)

#: In the order the application includes them (and the OpenAPI document lists them).
routers: tuple[APIRouter, ...] = (
    account.router,
    companies.router,
    tasks.router,
    contracts.router,
    analytics.router,
    definitions.router,
    simulation.router,
    migrations.router,
    verification.router,
    signing.router,
    notifications.router,
)
