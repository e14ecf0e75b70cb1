"""Uploads to tasks (issue 18, item 2): pending until the task completes with them, expired
and deleted otherwise, so an abandoned or retried upload never breaks a contract's
verification; quotas per contract and per user; files checked by parsing them; file names
without control or bidirectional formatting characters. On PostgreSQL, and on SQLite in
``make test-all`` (the web fixture's second column)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from PIL import ImageFile
from sqlalchemy import select

from engine.inbox.documents import expire_pending, image_problem
from engine.models import Document
from forms.pdf import html_to_pdf
from tests.helpers import uploads
from tests.web.conftest import Web


def _upload(
    c: TestClient, headers: dict[str, str], guid: str, name: str, data: bytes, kind: str
) -> Any:
    return c.post(
        f"/api/v1/tasks/{guid}/documents",
        headers=headers,
        data={"field": "proof"},
        files={"file": (name, data, kind)},
    )


def _raw_upload(
    c: TestClient, headers: dict[str, str], guid: str, disposition: bytes, data: bytes
) -> Any:
    """A multipart body written by hand: HTTP clients percent-encode a NUL in a file name,
    an attacker's client need not."""
    boundary = b"aqd-test-boundary"
    body = b"".join(
        (
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="field"\r\n\r\n',
            b"proof\r\n",
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; ',
            disposition + b"\r\nContent-Type: image/png\r\n\r\n",
            data + b"\r\n--" + boundary + b"--\r\n",
        )
    )
    return c.post(
        f"/api/v1/tasks/{guid}/documents",
        headers={**headers, "content-type": f"multipart/form-data; boundary={boundary.decode()}"},
        content=body,
    )


def _verify(web: Web, c: TestClient, contract_id: int) -> dict[str, Any]:
    r = c.post(f"/api/v1/contracts/{contract_id}/verify", headers=web.token("auditor"))
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


def _documents(web: Web, contract_id: int) -> dict[int, str]:
    with web.aqd.session() as s:
        rows = s.execute(
            select(Document.id, Document.status).where(
                Document.contract_id == contract_id, Document.kind == "proof"
            )
        ).all()
    return {r.id: r.status for r in rows}


def test_an_abandoned_upload_leaves_the_contract_verifiable_and_expires(web: Web) -> None:
    contract_id, guid = web.month_task()
    c = web.client()
    employer = web.token("employer.tun")
    ref = _upload(c, employer, guid, "march.pdf", uploads.pdf(), "application/pdf")
    assert ref.status_code == 201, ref.text
    doc_id = ref.json()["document_id"]
    assert _documents(web, contract_id) == {doc_id: "pending"}
    # never completed: the contract verifies (before this change: "recorded by no event")
    report = _verify(web, c, contract_id)
    assert report["ok"] and report["problems"] == [], report
    # a pending upload is its uploader's only: not listed, not served to the office
    staff, _ = web.login("counsellor.tun")
    assert staff.get(f"/documents/{doc_id}").status_code == 404
    assert 'data-testid="document"' not in staff.get(f"/contracts/{contract_id}").text
    # not yet expired: the job keeps it
    assert expire_pending(web.aqd) == {"files": 0, "bytes": 0}
    web.clock.set(web.clock.now() + timedelta(hours=web.aqd.settings.upload_pending_hours))
    freed = expire_pending(web.aqd)
    assert freed == {"files": 1, "bytes": len(uploads.pdf())}
    assert _documents(web, contract_id) == {}
    assert _verify(web, c, contract_id)["ok"]
    # a reference to the deleted upload is refused
    late = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=employer,
        json={"data": {"days_present": 18, "proof": ref.json()}},
    )
    assert late.status_code == 422 and late.json()["fields"] == {"proof": "unknown document"}


def test_a_retried_upload_verifies_and_the_replaced_one_expires(web: Web) -> None:
    contract_id, guid = web.month_task()
    c = web.client()
    employer = web.token("employer.tun")
    first = _upload(c, employer, guid, "scan.jpg", uploads.image("JPEG"), "image/jpeg")
    second = _upload(c, employer, guid, "scan.png", uploads.image("PNG"), "image/png")
    assert first.status_code == second.status_code == 201
    done = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=employer,
        json={"data": {"days_present": 18, "proof": second.json()}},
    )
    assert done.status_code == 200, done.text
    kept, replaced = second.json()["document_id"], first.json()["document_id"]
    assert _documents(web, contract_id) == {kept: "recorded", replaced: "pending"}
    report = _verify(web, c, contract_id)
    assert report["ok"] and report["problems"] == [], report
    # the replaced file expired when its task completed: the next run deletes it
    assert expire_pending(web.aqd)["files"] == 1
    assert _documents(web, contract_id) == {kept: "recorded"}
    assert _verify(web, c, contract_id)["ok"]
    staff, _ = web.login("counsellor.tun")
    assert staff.get(f"/contracts/{contract_id}").text.count('data-testid="document"') == 1


def test_an_expired_upload_cannot_complete_its_task(web: Web) -> None:
    _contract_id, guid = web.month_task()
    c = web.client()
    employer = web.token("employer.tun")
    ref = _upload(c, employer, guid, "march.pdf", uploads.pdf(), "application/pdf")
    web.clock.set(web.clock.now() + timedelta(hours=web.aqd.settings.upload_pending_hours))
    late = c.post(
        f"/api/v1/tasks/{guid}/complete",
        headers=employer,
        json={"data": {"days_present": 18, "proof": ref.json()}},
    )
    assert late.status_code == 422, late.text
    assert late.json()["fields"] == {"proof": "expired; upload it again"}


def test_quota_per_user_then_per_contract(web: Web) -> None:
    contract_id, guid = web.month_task()
    c = web.client()
    employer = web.token("employer.tun")
    settings = web.aqd.settings
    settings.upload_user_pending_files = 2
    png = uploads.image()
    for n in range(2):
        assert _upload(c, employer, guid, f"p{n}.png", png, "image/png").status_code == 201
    refused = _upload(c, employer, guid, "p3.png", png, "image/png")
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "quota_exceeded" and body["request_id"]
    assert body["fields"] == {"proof": "too many pending uploads"}
    # per contract: counted pending or recorded, whoever uploaded
    settings.upload_user_pending_files = 20
    settings.upload_contract_files = 3
    assert _upload(c, employer, guid, "p4.png", png, "image/png").status_code == 201
    refused = _upload(c, employer, guid, "p5.png", png, "image/png")
    assert refused.status_code == 409
    assert refused.json()["fields"] == {"proof": "upload quota of the contract reached"}
    # bytes count too
    settings.upload_contract_files = 120
    settings.upload_contract_mb = 1
    with web.aqd.session() as s, s.begin():
        for doc in s.scalars(select(Document).where(Document.contract_id == contract_id)):
            doc.size = 1024 * 1024  # as if each were 1 MB (the quota reads the recorded size)
    refused = _upload(c, employer, guid, "p6.png", png, "image/png")
    assert refused.status_code == 409
    assert refused.json()["fields"] == {"proof": "upload quota of the contract reached"}
    # the web form says it in the user's language, next to the field
    page, csrf = web.login("employer.tun")
    r = page.post(
        f"/tasks/{guid}/complete",
        data={"csrf_token": csrf, "days_present": "20"},
        files={"proof": ("p7.png", png, "image/png")},
    )
    assert r.status_code == 409 and "quota de fichiers du contrat atteint" in r.text


def test_files_are_checked_by_parsing_them(web: Web) -> None:
    _contract_id, guid = web.month_task()
    c = web.client()
    employer = web.token("employer.tun")
    pdf, png, jpeg = uploads.pdf(), uploads.image("PNG"), uploads.image("JPEG")
    refused = {
        "html.pdf": (b"%PDF-1.7\n<html><script>alert(1)</script></html>", "application/pdf"),
        "truncated.pdf": (pdf[: len(pdf) // 2], "application/pdf"),
        "no-pages.pdf": (pdf.replace(b"/Count 1", b"/Count 0"), "application/pdf"),
        "garbage.png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),
        "truncated.png": (png[:-30], "image/png"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "image/jpeg"),
        "gif-as-png.png": (uploads.image("GIF"), "image/png"),
    }
    for name, (data, kind) in refused.items():
        r = _upload(c, employer, guid, name, data, kind)
        assert r.status_code == 422, (name, r.text)
        expected = (
            "PDF, PNG or JPEG only"
            if name == "gif-as-png.png"
            else "not a readable PDF, PNG or JPEG"
        )
        assert r.json()["fields"] == {"proof": expected}, name
    for name, data, kind in (
        ("a.pdf", pdf, "application/pdf"),
        ("b.png", png, "image/png"),
        ("c.jpg", jpeg, "image/jpeg"),
    ):
        ok = _upload(c, employer, guid, name, data, kind)
        assert ok.status_code == 201, (name, ok.text)


def test_control_and_bidi_characters_in_file_names_are_refused(web: Web) -> None:
    _contract_id, guid = web.month_task()
    c = web.client()
    employer = web.token("employer.tun")
    png = uploads.image()
    for disposition in (
        b'filename="scan\x00.png"',
        b'filename="scan\x01.png"',
        b'filename="scan\x7f.png"',
        'filename="gpj.\u202eexe.png"'.encode(),
        'filename="a\u2066b.png"'.encode(),
    ):
        r = _raw_upload(c, employer, guid, disposition, png)
        assert r.status_code == 422, (disposition, r.text)
        assert r.json()["fields"] == {"proof": "invalid characters in the file name"}, disposition
    # the web form too, in the user's language
    page, csrf = web.login("employer.tun")
    r = page.post(
        f"/tasks/{guid}/complete",
        data={"csrf_token": csrf, "days_present": "20"},
        files={"proof": ("gnp.\u202emars.png", png, "image/png")},
    )
    assert r.status_code == 422 and "caractères non admis dans le nom du fichier" in r.text
    with web.aqd.session() as s:
        names = list(s.scalars(select(Document.filename).where(Document.kind == "proof")))
    assert names == [], names  # nothing was stored
    assert _upload(c, employer, guid, "mars 2025 (1).png", png, "image/png").status_code == 201


def test_a_truncated_image_is_refused_once_weasyprint_has_loaded() -> None:
    """WeasyPrint switches Pillow's truncation check off for the whole process when it loads,
    as the server's does when it renders its first contract PDF; a truncated PNG or JPEG went
    through after that (seen in a full test run, where a PDF test ran first)."""
    html_to_pdf("<p>x</p>", base_url=".")  # loads WeasyPrint
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    png, jpeg = uploads.image("PNG"), uploads.image("JPEG")
    assert image_problem(png) is None and image_problem(jpeg) is None
    assert image_problem(png[:-30]) == "the image is truncated"
    assert image_problem(png[:-4] + b"\0" * 4) == "the image is truncated"  # IEND CRC broken
    assert image_problem(jpeg[:-40]) is not None
