"""The server-rendered pages (Jinja2 + htmx, Arabic and French): one module per area, each a
module-level ``router`` (left out of the OpenAPI document); ``common`` holds the rendering,
redirects and form helpers they share."""

from __future__ import annotations

from fastapi import APIRouter

from api.pages import (
    account,
    analytics,
    audit,
    companies,
    contracts,
    inbox,
    modeller,
    notifications,
    oidc,
    portal,
    registry,
    signing,
)

routers: tuple[APIRouter, ...] = (
    account.router,
    inbox.router,
    contracts.router,
    audit.router,
    modeller.router,
    analytics.router,
    portal.router,
    companies.router,
    registry.router,
    oidc.router,
    signing.router,
    notifications.router,
)
