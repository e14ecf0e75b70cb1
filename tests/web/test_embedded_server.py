"""The embedded server (``aqd serve``, the quick start) runs the background work itself: its
poll fires timers, relays the outbox, escalates and anchors the hash chains, from its first
round (``time.monotonic()`` may start near zero on a freshly booted machine)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import bootstrap
from api.app import create_app
from engine.models import ChainAnchor
from tests.conftest import World


def test_the_embedded_server_anchors_from_its_first_poll(world: World, tmp_path: Path) -> None:
    world.aqd.settings.var_dir = tmp_path  # the development TSA's keys
    world.aqd.plugins = bootstrap.plugins()  # as `aqd serve` builds it: signing's time-stamper
    world.start()
    app = create_app(world.aqd, run_timers=True, timer_interval_s=0.05)
    deadline = time.monotonic() + 30
    anchors = 0
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        while time.monotonic() < deadline and not anchors:
            time.sleep(0.1)
            with world.aqd.session() as s:
                anchors = s.scalar(select(func.count()).select_from(ChainAnchor)) or 0
    assert anchors == 1
