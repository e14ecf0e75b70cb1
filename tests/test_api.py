"""The read-only HTTP view started by ``aqd serve``."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api import create_app
from tests.conftest import World


def test_health_and_read_views(world: World) -> None:
    cid = world.start()
    client = TestClient(create_app(world.aqd))
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    contracts = client.get("/api/contracts").json()
    assert [c["id"] for c in contracts] == [cid]
    assert client.get(f"/api/contracts/CIVP-2025-{cid:06d}").json()["status"] == "in_review"
    missing = client.get("/api/contracts/404404")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    tasks = client.get("/api/tasks", params={"office": "TUN"}).json()
    assert [t["bpmn_id"] for t in tasks] == ["employer_agreement"]
    assert client.get("/api/tasks", params={"limit": 0}).status_code == 422
