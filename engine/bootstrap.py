"""The engine's composition root: builds an :class:`engine.Aqd` from settings with the engine's
own plug-ins registered explicitly.

The engine's own plug-ins are the payments adapter (``payment_order`` and its batch form) and
notification delivery (``notification.send``). ``signing`` is a plug-in too, but the engine
never imports it: the application's root, ``api.bootstrap``, calls :func:`plugins` and adds
signing's. Every entry point builds its engine through one of the two roots (``aqd`` and the
API, the worker and the scheduler through ``api.bootstrap``; ``python -m engine.cli`` and the
benchmarks through this one), and a process the engine spawns rebuilds its engine with the root
its parent's was built by (``Plugins.root``).
"""

from __future__ import annotations

from engine import payments
from engine.clock import Clock, clock_from_setting
from engine.commands.aqd import Aqd
from engine.config import Settings, get_settings
from engine.inbox import documents
from engine.notifications import delivery
from engine.plugins import Plugins

ROOT = "engine.bootstrap:build"


def plugins(root: str = ROOT) -> Plugins:
    """The engine's own plug-ins (payments, delivery, the image checks of uploads); ``root``
    names the composition root."""
    found = Plugins(root=root)
    payments.register(found)
    delivery.register(found)
    documents.register(found)
    return found


def engine_with(
    found: Plugins,
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    database_url: str | None = None,
) -> Aqd:
    """An engine with the plug-ins ``found``, on the settings' database and clock (each
    composition root's ``build`` is this with its own plug-ins)."""
    settings = settings or get_settings()
    return Aqd(
        database_url,
        clock=clock or clock_from_setting(settings.clock),
        settings=settings,
        plugins=found,
    )


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    database_url: str | None = None,
) -> Aqd:
    """An engine with the engine's own plug-ins (no signing: see ``api.bootstrap``)."""
    return engine_with(plugins(), settings, clock=clock, database_url=database_url)
