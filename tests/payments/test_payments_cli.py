"""``aqd payments …`` as an operator runs it: real subprocesses on the test database."""

from __future__ import annotations

import json
from pathlib import Path

from engine.payments.orders import end_to_end_id
from tests.conftest import SQLITE_IN_TEST_ALL, World
from tests.helpers.cli import aqd
from tests.helpers.payments import KEY1, RIB, active_contract, worked_month


@SQLITE_IN_TEST_ALL
def test_batch_dev_bank_and_import(world: World, tmp_path: Path) -> None:
    cid = active_contract(world)
    aqd(
        world,
        "payments",
        "set-account",
        "12345678901234567890",
        "--beneficiary",
        "12345678",
        ok=False,
    )
    aqd(world, "payments", "set-account", RIB, "--beneficiary", "12345678")
    worked_month(world, cid)
    assert "awaiting 1" in aqd(world, "outbox", "run").stdout
    out = tmp_path / "bank"
    printed = aqd(
        world, "payments", "batch", "--office", "TUN", "--period", "2025-04", "--out", str(out)
    ).stdout
    assert "AQD-TUN-2025-04-0001: 1 orders, 200.000 TND" in printed
    xml = out / "AQD-TUN-2025-04-0001.xml"
    assert xml.is_file() and (out / "AQD-TUN-2025-04-0001.csv").is_file()
    assert "nothing to batch" in aqd(world, "payments", "batch", "--out", str(out)).stdout
    again = tmp_path / "again"
    aqd(world, "payments", "export", "1", str(again))
    assert (again / xml.name).read_bytes() == xml.read_bytes()
    aqd(world, "payments", "mark-sent", "1")
    result = tmp_path / "camt054.xml"
    aqd(
        world,
        "payments",
        "dev-bank",
        str(xml),
        str(result),
        "--reject",
        f"{end_to_end_id(KEY1)}=AC04:closed account",
    )
    assert "rejected 1" in aqd(world, "payments", "import", str(result)).stdout
    assert "already settled 1" in aqd(world, "payments", "import", str(result)).stdout
    listing = json.loads(aqd(world, "payments", "list", "--office", "TUN").stdout)
    assert listing["counts"] == {"rejected": 1}
    assert listing["orders"][0]["reason"] == "AC04: closed account"
    bad = tmp_path / "bad.csv"
    bad.write_text("end_to_end_id,status\nAQDX,paid\n")
    assert "unknown payment AQDX" in aqd(world, "payments", "import", str(bad), ok=False).stderr
