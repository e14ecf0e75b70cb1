"""Documents on contracts: upload with checks, scoped reads, and the link between a task's
form and the documents it carries.

A form property marked ``"x-upload": true`` holds a reference ``{"document_id", "sha256",
"filename"}``; the engine checks that the document exists, belongs to the task's contract and
still has that hash before the task completes, so the event log pins the exact bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import files, forms_bridge
from engine.access.accounts import Principal
from engine.access.scope import can_act, visible_contract, visible_task
from engine.commands.aqd import Aqd
from engine.errors import InvalidInput, NotFound, NotPermitted
from engine.files import sniff
from engine.models import Document

#: the upload routes read the limit from here
MAX_BYTES = files.MAX_BYTES


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str
    data: bytes


def store(
    session: Session,
    contract_id: int,
    upload: Upload,
    kind: str,
    actor: str,
    now: datetime,
    task_guid: str | None = None,
) -> Document:
    """Check and store one file; ``InvalidInput`` names the form field on refusal."""
    if not upload.data:
        raise InvalidInput("the file is empty", fields={upload.field: "empty file"})
    if len(upload.data) > MAX_BYTES:
        raise InvalidInput(
            "the file is larger than 5 MB", fields={upload.field: "larger than 5 MB"}
        )
    content_type = sniff(upload.data)
    if content_type is None:
        raise InvalidInput(
            "only PDF, PNG or JPEG files are accepted",
            fields={upload.field: "PDF, PNG or JPEG only"},
        )
    name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "document"
    document = Document(
        contract_id=contract_id,
        kind=kind[:32],
        filename=name,
        content_type=content_type,
        size=len(upload.data),
        sha256=hashlib.sha256(upload.data).hexdigest(),
        content=upload.data,
        task_guid=task_guid,
        uploaded_by=actor,
        uploaded_at=now,
    )
    session.add(document)
    session.flush()
    return document


def reference(document: Document) -> dict[str, Any]:
    return {"document_id": document.id, "sha256": document.sha256, "filename": document.filename}


def upload_fields(programme: str, form_key: str) -> list[str]:
    try:
        schema = forms_bridge.schema(programme, form_key)
    except KeyError:
        return []
    return [
        name
        for name, spec in schema.get("properties", {}).items()
        if isinstance(spec, dict) and spec.get("x-upload")
    ]


def check_references(
    session: Session, contract_id: int, programme: str, form_key: str, data: dict[str, Any]
) -> None:
    """Every document a submission points to belongs to this contract and has that hash."""
    for name in upload_fields(programme, form_key):
        ref = data.get(name)
        if not isinstance(ref, dict):
            continue
        document = session.get(Document, ref.get("document_id"))
        if (
            document is None
            or document.contract_id != contract_id
            or document.sha256 != ref.get("sha256")
        ):
            raise InvalidInput(
                "the attached document is not this contract's or has changed",
                fields={name: "unknown document"},
            )


def contract_documents(session: Session, contract_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            Document.id,
            Document.kind,
            Document.filename,
            Document.content_type,
            Document.size,
            Document.sha256,
            Document.uploaded_by,
            Document.uploaded_at,
        )
        .where(Document.contract_id == contract_id)
        .order_by(Document.id)
    ).all()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "filename": r.filename,
            "content_type": r.content_type,
            "size": r.size,
            "sha256": r.sha256,
            "uploaded_by": r.uploaded_by,
            "uploaded_at": r.uploaded_at.isoformat(),
        }
        for r in rows
    ]


def get(session: Session, principal: Principal, document_id: int) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound(f"document {document_id} not found")
    visible_contract(session, principal, document.contract_id)  # NotFound outside the scope
    return document


def attach_to_task(aqd: Aqd, principal: Principal, guid: str, upload: Upload) -> dict[str, Any]:
    """Store a file for a form field of a task the principal may complete (API path: upload,
    then complete the task with the returned reference)."""

    with aqd.session() as session, session.begin():
        task, contract = visible_task(session, principal, guid)
        if not can_act(principal, task, contract) or task.status != "ready":
            raise NotPermitted("you cannot add documents to this task")
        if upload.field not in upload_fields(task.programme, task.form_key):
            raise InvalidInput("this form takes no file here", fields={upload.field: "no file"})
        stored = store(
            session, contract.id, upload, "proof", principal.username, aqd.clock.now(), guid
        )
        return reference(stored)
