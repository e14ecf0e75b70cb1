"""The modeller's API without a browser: who may edit, drafts survive problems, hostile
files are refused at validation with clear messages, stale drafts cannot be deployed."""

from __future__ import annotations

import json

from tests.conftest import ROOT
from tests.web.conftest import Web

CIVP = (ROOT / "processes" / "civp" / "civp.bpmn").read_text(encoding="utf-8")


def _draft(web: Web, xml: str, user: str = "manager") -> dict[str, object]:
    c = web.client()
    r = c.put(
        "/api/v1/definitions/civp/draft",
        headers=web.token(user),
        json={"file": "civp.bpmn", "xml": xml},
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _messages(body: dict[str, object]) -> str:
    problems = body["problems"]
    assert isinstance(problems, list)
    return " | ".join(str(p["message"]) for p in problems)


def test_only_managers_edit_and_a_clean_save_has_no_problem(web: Web) -> None:
    c = web.client()
    for user in ("counsellor.tun", "auditor", "employer.tun"):
        r = c.put(
            "/api/v1/definitions/civp/draft",
            headers=web.token(user),
            json={"file": "civp.bpmn", "xml": CIVP},
        )
        assert r.status_code == 403, user
    assert _draft(web, CIVP)["problems"] == []
    source = c.get("/api/v1/definitions/civp/source", headers=web.token("manager")).json()
    assert source["draft"] is True and source["file"] == "civp.bpmn"
    diff = c.get(
        "/api/v1/definitions/civp/diff", params={"file": "civp.bpmn"}, headers=web.token("admin")
    ).json()
    assert diff == {"file": "civp.bpmn", "version": 1, "added": [], "removed": [], "changed": []}


def test_hostile_files_are_refused_with_clear_messages(web: Web) -> None:
    entity = CIVP.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    )
    laughs = CIVP.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',
    )
    for xml in (entity, laughs):
        assert "DTDs and entity declarations are not allowed" in _messages(_draft(web, xml))
    dunder = CIVP.replace(
        "<bpmn:conditionExpression>employer_eligible == True</bpmn:conditionExpression>",
        "<bpmn:conditionExpression>().__class__.__bases__[0].__subclasses__()"
        "</bpmn:conditionExpression>",
    )
    assert dunder != CIVP
    body = _draft(web, dunder)
    problems = body["problems"]
    assert isinstance(problems, list) and problems
    assert problems[0]["element"] == "f_employer_eligible" and problems[0]["line"] > 0
    assert "__class__" in _messages(body) or "underscore" in _messages(body)


def test_deploy_needs_a_note_and_a_current_draft(web: Web) -> None:
    c = web.client()
    h = web.token("manager")
    assert (
        c.post("/api/v1/definitions/civp/deploy", headers=h, json={"note": "x"}).status_code == 422
    )
    none = c.post("/api/v1/definitions/civp/deploy", headers=h, json={"note": "nothing to do"})
    assert none.status_code == 422 and "draft" in none.json()["fields"]
    _draft(web, CIVP.replace('name="Activate contract"', 'name="Activate the contract"'))
    # someone deploys another version in between: the draft must be saved again
    from engine.definitions.deploy import deploy

    folder = ROOT / "processes" / "civp"
    with web.aqd.session() as s, s.begin():
        import shutil
        import tempfile
        from pathlib import Path

        tmp = Path(tempfile.mkdtemp()) / "civp"
        shutil.copytree(folder, tmp)
        (tmp / "civp.bpmn").write_text(CIVP.replace("Contract requested", "Request received"))
        deploy(s, tmp, web.aqd.sandbox, web.clock, actor="someone", note="rename")
    stale = c.post("/api/v1/definitions/civp/deploy", headers=h, json={"note": "rename a step"})
    assert stale.status_code == 422 and "civp.bpmn" in stale.json()["fields"]
    _draft(web, CIVP.replace('name="Activate contract"', 'name="Activate the contract"'))
    ok = c.post("/api/v1/definitions/civp/deploy", headers=h, json={"note": "rename a step"})
    assert ok.status_code == 201 and ok.json()["version"] == 3
    versions = c.get("/api/v1/definitions/civp/versions", headers=h).json()
    assert [v["version"] for v in versions] == [3, 2, 1] and versions[0]["note"] == "rename a step"


def test_a_parameters_file_is_checked_like_the_diagrams(web: Web) -> None:
    """Issue 18: the draft API saved ``parameters.json`` unchecked (``{}`` was kept without a
    problem). Its problems are listed, the draft is kept, and a draft with problems is not
    deployed."""
    c = web.client()
    h = web.token("manager")
    good = json.loads((ROOT / "processes" / "civp" / "parameters.json").read_text())
    stipend = good["parameters"]["stipend_higher_ed"]
    broken = {
        "parameters": {
            **good["parameters"],
            "stipend_higher_ed": [
                {**stipend[0], "confidence": "sure"},
                {**stipend[1], "valid_to": "2019-06-30"},  # runs into the next period
            ],
            "disability_topup": [],
        }
    }
    cases = {
        "{}": ['expected an object {"parameters": {name: [periods]}}'],
        json.dumps({"parameters": {}}): ["no parameter is defined"],
        json.dumps(broken): [
            "stipend_higher_ed[1]: confidence must be H, M or L",
            "stipend_higher_ed[2]: overlaps another period of this parameter",
            "disability_topup: expected a list of periods",
        ],
    }
    for text, expected in cases.items():
        r = c.put(
            "/api/v1/definitions/civp/draft",
            headers=h,
            json={"file": "parameters.json", "xml": text},
        )
        assert r.status_code == 200, r.text
        found = [
            f"{p['element']}: {p['message']}" if p["element"] else p["message"]
            for p in r.json()["problems"]
        ]
        assert sorted(found) == sorted(expected), found
        refused = c.post("/api/v1/definitions/civp/deploy", headers=h, json={"note": "params"})
        assert refused.status_code == 422, refused.text
    saved = c.get("/api/v1/definitions/civp/source", headers=h, params={"file": "parameters.json"})
    assert saved.status_code == 200 and json.loads(saved.json()["xml"]) == broken
