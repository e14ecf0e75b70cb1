"""Who commits (docs/web.md, "Transactions"): nothing under ``api/`` but the ``WriteSession``
dependency, which commits once the endpoint returned and before the response is sent, and
rolls back when the endpoint raised. Engine use cases that take the ``Aqd`` run their own
transaction; the HTTP modules never open one."""

from __future__ import annotations

import ast
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.deps import WriteSession
from engine import Aqd, InvalidInput, Settings
from engine.models import Office
from tests.conftest import ROOT

API = ROOT / "api"
#: Calls that end or open a transaction.
TRANSACTION_CALLS = frozenset({"commit", "begin", "begin_nested"})
#: The HTTP modules take a WriteSession (or call an engine use case) instead of opening a
#: session that can write; ``api/cli.py`` is the command line's boundary, not the HTTP one.
HTTP_MODULES = ("app.py", "auth.py", "ceremony.py", "deps.py", "pages", "v1")


def _calls(path: Path, names: frozenset[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in names
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}()")
    return found


def _http_files() -> list[Path]:
    files: list[Path] = []
    for name in HTTP_MODULES:
        target = API / name
        files.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return files


def test_only_the_write_session_dependency_commits() -> None:
    # the command line (api/cli.py, and the demo seed it runs) is a boundary of its own
    commits = [
        call
        for path in _http_files()
        if path != API / "deps.py"
        for call in _calls(path, TRANSACTION_CALLS)
    ]
    assert commits == []
    # the dependency does commit (the scan above looks at the right thing)
    assert [c.split()[-1] for c in _calls(API / "deps.py", TRANSACTION_CALLS)] == [".commit()"]
    sessions = [
        call
        for path in _http_files()
        if path != API / "deps.py"
        for call in _calls(path, frozenset({"session"}))
    ]
    assert sessions == []


def _app_with_probe(url: str) -> tuple[Aqd, TestClient]:
    """The application with one more route that writes an office, then (when asked) fails."""
    aqd = Aqd(url, settings=Settings(database_url=url))
    app = create_app(aqd)

    @app.post("/api/v1/probe/offices/{code}")
    def write_office(
        code: str, s: WriteSession, fail: bool = False, twice: bool = False
    ) -> dict[str, str]:
        s.add(Office(code=code, name_fr=code, name_ar=code, governorate="Tunis"))
        s.flush()
        if twice:  # a duplicate that only the commit's flush finds
            s.add(Office(code=code, name_fr=code, name_ar=code, governorate="Tunis"))
        if fail:
            raise InvalidInput("refused after the write", fields={"code": "refused"})
        return {"code": code}

    return aqd, TestClient(app, raise_server_exceptions=False)


def _offices(aqd: Aqd, code: str) -> int:
    with aqd.read_session() as s:
        return int(s.scalar(select(func.count()).where(Office.code == code)) or 0)


def test_an_endpoint_that_raises_after_writing_leaves_nothing_written(db_url: str) -> None:
    aqd, client = _app_with_probe(db_url)
    refused = client.post("/api/v1/probe/offices/PRB?fail=true")
    assert refused.status_code == 422
    assert refused.json()["fields"] == {"code": "refused"}
    assert _offices(aqd, "PRB") == 0
    # the same write without the error is committed, and visible once the answer is in
    done = client.post("/api/v1/probe/offices/PRB")
    assert done.status_code == 200 and done.json() == {"code": "PRB"}
    assert _offices(aqd, "PRB") == 1


def test_a_commit_that_fails_is_the_response_not_a_success(db_url: str) -> None:
    aqd, client = _app_with_probe(db_url)
    failed = client.post("/api/v1/probe/offices/DUP?twice=true")
    assert failed.status_code == 500
    assert _offices(aqd, "DUP") == 0
