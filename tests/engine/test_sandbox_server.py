"""A real server (``aqd serve`` on 127.0.0.1, in its own process) keeps answering
``/healthz`` within 200 ms while a programme manager's simulation runs each hostile script
(issue 18: ``sum`` of lists in a draft held ``/healthz`` for 8.9 s). The sandbox runs at the
default budget here (1 s, 192 MB)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Aqd, FrozenClock, Settings
from engine.access import accounts
from engine.definitions.deploy import deploy
from tests.conftest import ROOT
from tests.helpers.hostile import PAYLOADS, Hostile, Probe, _sources

HEALTH_S = 0.2
#: A server that runs a script in its own process cannot answer before the script's time limit
#: (1 s by default): the issue saw /healthz wait 8.9 s. No answer may ever take that long.
BLOCKED_S = 1.0
#: every payload the deploy-time checks let through, and one they refuse (a 422)
SERVED = [p for p in PAYLOADS if not p.static] + [p for p in PAYLOADS if p.static][:1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``aqd serve`` in its own process, as it runs in production."""

    def __init__(self, url: str, var_dir: Path) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "AQD_DATABASE_URL": url,
            "AQD_VAR_DIR": str(var_dir),
            "AQD_CLOCK": "2026-01-05T08:00:00+00:00",
        }
        command = [
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--no-timers",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 120
        while True:
            assert self.proc.poll() is None, "the server ended"
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def request(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(
                method,
                path,
                body=data,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()


class HealthPoller:
    """Polls ``/healthz`` on one kept-alive connection and records each answer's latency."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._stop.is_set():
            started = time.perf_counter()
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            assert response.status == 200 and json.loads(response.read()) == {"status": "ok"}
            self.latencies.append(time.perf_counter() - started)
            self._stop.wait(0.02)
        conn.close()

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        while not self.latencies:  # polling before the hostile request is sent
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    clock = FrozenClock("2026-01-05T08:00:00+00:00")
    aqd = Aqd(db_url, clock=clock, settings=Settings(database_url=db_url))
    folder = tmp_path / "hostile"
    folder.mkdir()
    for name, text in _sources(Hostile("none", "1"), "script").items():
        (folder / name).write_text(text)
    with aqd.session() as s, s.begin():
        deploy(s, folder, aqd.sandbox, clock, actor="test")
        user = accounts.create_user(s, "manager", None, ["programme_manager"], clock.now())
        principal = accounts.Principal(
            user.id, "manager", "Manager", "fr", frozenset({"programme_manager"})
        )
    token = accounts.create_token(aqd, principal, "test")["token"]
    auth = {"Authorization": f"Bearer {token}"}
    with Server(db_url, tmp_path / "var") as server:
        # the first requests import the modeller and the simulation (a server has done so
        # long before anyone's hostile draft)
        case = {"cases": [{"name": "warm", "data": {}, "steps": []}]}
        assert server.request("POST", "/api/v1/definitions/hostile/simulate", case, auth)[0] == 200
        yield server, auth


def _draft_and_simulate(server: Server, auth: dict[str, str], payload: Hostile) -> tuple[int, Any]:
    xml = _sources(payload, "script")["hostile.bpmn"]
    draft = {"file": "hostile.bpmn", "xml": xml}
    status, saved = server.request("PUT", "/api/v1/definitions/hostile/draft", draft, auth)
    assert status == 200, saved
    body = {"cases": [{"name": payload.name, "data": {}, "steps": []}]}
    return server.request("POST", "/api/v1/definitions/hostile/simulate", body, auth)


def _hostile_run(
    server: Server, auth: dict[str, str], payload: Hostile
) -> tuple[int, Any, float, Probe]:
    """Save ``payload`` as a draft and simulate it while /healthz is polled: the answer, the
    slowest /healthz answer and the memory probe."""
    with HealthPoller(server.port) as health:
        xml = _sources(payload, "script")["hostile.bpmn"]
        draft = {"file": "hostile.bpmn", "xml": xml}
        status, saved = server.request("PUT", "/api/v1/definitions/hostile/draft", draft, auth)
        assert status == 200, saved
        body = {"cases": [{"name": payload.name, "data": {}, "steps": []}]}
        with Probe(server.proc.pid) as probe:
            status, answer = server.request(
                "POST", "/api/v1/definitions/hostile/simulate", body, auth
            )
    return status, answer, max(health.latencies), probe


@pytest.mark.slow  # a served process and every payload simulated through it (minutes)
def test_healthz_answers_while_each_hostile_script_is_simulated(
    served: tuple[Server, dict[str, str]],
) -> None:
    """Each answer within 200 ms. On a machine so loaded that harmless drafts and simulations
    already hold /healthz longer (a 2-core machine shared by many test runs, measured here
    first), the bound is twice that measured latency, and never ``BLOCKED_S``. A payload
    whose run passes the bound is run once more and fails only if it passes it again: another
    test's burst on the shared cores slows one run by tens of milliseconds (seen: 232-300 ms
    for a script refused before it runs), a server held by the payload is held every time."""
    server, auth = served
    with HealthPoller(server.port) as calm:
        for n in range(3):
            _draft_and_simulate(server, auth, Hostile(f"harmless_{n}", f"{n} + 1"))
    bound = min(max(HEALTH_S, 2 * max(calm.latencies)), BLOCKED_S)
    failures = []
    for payload in SERVED:
        status, answer, slowest, probe = _hostile_run(server, auth, payload)
        runs = [slowest]
        if slowest >= bound:  # once more: held twice is the payload, once may be the machine
            status, answer, slowest, probe = _hostile_run(server, auth, payload)
            runs.append(slowest)
        try:
            probe.within_budget()
            took = " then ".join(f"{t * 1000:.0f} ms" for t in runs)
            assert slowest < bound, f"/healthz took {took} (bound {bound:.3f} s)"
            if payload.static:
                assert status == 422, (status, answer)
                assert "hostile_script" in json.dumps(answer), answer
            else:
                assert status == 200, (status, answer)
                run = answer["cases"][0]
                assert run["status"] == "error" and run["element"] == "hostile_script", run
        except AssertionError as exc:
            failures.append(f"{payload.name}: {exc}")
    assert not failures, "\n".join(failures)
