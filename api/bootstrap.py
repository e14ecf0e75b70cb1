"""The application's composition root: the engine with every plug-in — the engine's own
(payments, delivery: ``engine.bootstrap``) and ``signing``'s (its side-effect handlers, the
signed-document validator, the anchors' time-stamper).

It lives in ``api/`` because it is the lowest layer allowed to import ``signing`` (dependencies
point ``api → signing → engine``; the engine never imports signing). ``aqd`` (``api.cli``), the
HTTP application (``api.app.create_app``), the Celery worker and scheduler (``api.worker``) and
the processes ``verify-contracts --processes`` spawns all build their engine here. pyHanko is
not loaded by building: signing's plug-ins import it when one first runs.
"""

from __future__ import annotations

from engine import Aqd, Clock, Settings
from engine import bootstrap as engine_bootstrap
from engine.plugins import Plugins
from signing import registration as signing

ROOT = "api.bootstrap:build"


def plugins() -> Plugins:
    """Every plug-in: the engine's own, then signing's."""
    found = engine_bootstrap.plugins(root=ROOT)
    signing.register(found)
    return found


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    database_url: str | None = None,
) -> Aqd:
    """The engine of the application, with every plug-in registered."""
    return engine_bootstrap.engine_with(plugins(), settings, clock=clock, database_url=database_url)
