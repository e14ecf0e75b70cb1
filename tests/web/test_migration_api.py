"""Migrating running contracts through the API: programme managers only, field details on bad
input, 409 on conflicts (never a 500), and the batch's rollback."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.migration import civp_v2_folder
from tests.web.conftest import Web


def _v2(web: Web, tmp_path: Path) -> None:
    from engine.definitions.deploy import deploy

    with web.aqd.session() as s, s.begin():
        deploy(s, civp_v2_folder(tmp_path), web.aqd.sandbox, web.clock, actor="m", note="v2")


def test_only_programme_managers_migrate(web: Web, tmp_path: Path) -> None:
    _v2(web, tmp_path)
    c = web.client()
    for user in ("admin", "auditor", "counsellor.tun", "head.tun", "employer.tun"):
        h = web.token(user)
        r = c.post("/api/v1/migrations/dry-run", headers=h, json={"programme": "civp"})
        assert r.status_code == 403, user
        assert c.get("/api/v1/migrations", headers=h).status_code == 403, user
        r = c.post("/api/v1/migrations", headers=h, json={"programme": "civp", "note": "x"})
        assert r.status_code == 403, user
    assert c.post("/api/v1/migrations/dry-run", json={"programme": "civp"}).status_code == 401


def test_bad_input_has_field_details(web: Web, tmp_path: Path) -> None:
    _v2(web, tmp_path)
    c = web.client()
    h = web.token("manager")
    bad = [
        ({"programme": ""}, "programme"),
        ({"programme": "civp", "to_version": 0}, "to_version"),
        ({"programme": "civp", "limit": 0}, "limit"),
        ({"programme": "civp", "statuses": ["x" * 40]}, "statuses"),
        ({"programme": "civp", "colour": "red"}, "colour"),
    ]
    for body, field in bad:
        r = c.post("/api/v1/migrations/dry-run", headers=h, json=body)
        assert r.status_code == 422, body
        assert any(field in key for key in r.json()["fields"]), (body, r.json())
    r = c.post("/api/v1/migrations/dry-run", headers=h, json={"programme": "civp", "to_version": 9})
    assert r.status_code == 422 and "to_version" in r.json()["fields"]
    r = c.post("/api/v1/migrations/dry-run", headers=h, json={"programme": "nope"})
    assert r.status_code == 404
    r = c.post("/api/v1/migrations", headers=h, json={"programme": "civp"})
    assert r.status_code == 422 and "note" in str(r.json()["fields"])
    r = c.post("/api/v1/migrations/0/rollback", headers=h, json={"reason": "x"})
    assert r.status_code == 422
    r = c.post("/api/v1/migrations/77/rollback", headers=h, json={"reason": "x"})
    assert r.status_code == 404
    assert c.get("/api/v1/migrations/77", headers=h).status_code == 404


def test_dry_run_migrate_and_roll_back(web: Web, tmp_path: Path) -> None:
    _v2(web, tmp_path)
    c = web.client()
    h = web.token("manager")
    dry = c.post("/api/v1/migrations/dry-run", headers=h, json={"programme": "civp"})
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["contracts"] > 0
    assert report["contracts"] == report["can_migrate"] + report["cannot_migrate"]
    for verdict in report["verdicts"]:
        assert verdict["can_migrate"] == (not verdict["reasons"])
    done = c.post("/api/v1/migrations", headers=h, json={"programme": "civp", "note": "decree"})
    assert done.status_code == 201, done.text
    batch = done.json()
    assert batch["migrated"] == report["can_migrate"]
    assert len(batch["refused"]) == report["cannot_migrate"]
    listed = c.get("/api/v1/migrations", headers=h, params={"programme": "civp"}).json()
    assert [b["batch"] for b in listed] == [batch["batch"]]
    assert listed[0]["created_by"] == "manager"
    detail = c.get(f"/api/v1/migrations/{batch['batch']}", headers=h).json()
    assert len(detail["contracts"]) == report["contracts"]
    # Nothing left to migrate: an empty batch, not an error.
    again = c.post("/api/v1/migrations/dry-run", headers=h, json={"programme": "civp"}).json()
    assert again["can_migrate"] == 0
    url = f"/api/v1/migrations/{batch['batch']}/rollback"
    back = c.post(url, headers=h, json={"reason": "wrong version"})
    assert back.status_code == 200, back.text
    assert back.json()["rolled_back"] == batch["migrated"]
    twice = c.post(url, headers=h, json={"reason": "again"})
    assert twice.status_code == 409
    assert "no migrated contract" in twice.json()["detail"]
    assert c.post(url, headers=h, json={"reason": ""}).status_code == 422


def test_the_modeller_page_migrates_and_rolls_back(web: Web, tmp_path: Path) -> None:
    from tests.web.conftest import csrf_of

    _v2(web, tmp_path)
    admin, _ = web.login("admin")
    assert "migrations-link" not in admin.get("/modeller/civp").text
    assert admin.get("/modeller/civp/migrations").status_code == 403
    c, csrf = web.login("manager")
    assert 'href="/modeller/civp/migrations"' in c.get("/modeller/civp").text
    page = c.get("/modeller/civp/migrations")
    assert page.status_code == 200
    dry = c.post(
        "/modeller/civp/migrations/dry-run",
        data={"csrf_token": csrf_of(page.text), "to_version": "2", "from_version": "1"},
    )
    assert dry.status_code == 200, dry.text
    assert 'data-testid="verdict-' in dry.text
    assert "Simulation" in dry.text or "محاكاة" in dry.text
    forged = c.post("/modeller/civp/migrations", data={"to_version": "2", "note": "decree"})
    assert forged.status_code == 403
    done = c.post(
        "/modeller/civp/migrations",
        data={"csrf_token": csrf, "to_version": "2", "from_version": "1", "note": "decree"},
    )
    assert done.status_code == 303
    batch_url = done.headers["location"]
    batch = c.get(batch_url)
    assert batch.status_code == 200
    assert 'data-testid="batch-migrated"' in batch.text
    back = c.post(f"{batch_url}/rollback", data={"csrf_token": csrf, "reason": "wrong"})
    assert back.status_code == 200, back.text
    assert 'data-testid="rollback-result"' in back.text
    assert 'data-testid="batch-rolled_back"' in back.text
    assert 'data-testid="batch-migrated"' not in back.text
