"""Documents on contracts: upload with checks, scoped reads, and the link between a task's
form and the documents it carries.

A form property marked ``"x-upload": true`` holds a reference ``{"document_id", "sha256",
"filename"}``; the engine checks that the document exists, belongs to the task's contract and
still has that hash before the task completes, so the event log pins the exact bytes.

An upload is **pending** until the task it was uploaded to completes with a reference to it:
that completion marks it **recorded** in the same transaction as its event (which holds its
SHA-256, so replay verification accounts for it). An upload the task does not reference (a
replaced or retried file), or whose task never completes, expires (``AQD_UPLOAD_PENDING_HOURS``)
and :func:`expire_pending` deletes it; it was never part of the contract. Uploads count against
a quota per contract (files and bytes, pending or recorded) and per user (files and bytes
pending at once).

A file is accepted when its bytes parse as what they claim to be: the first bytes say which
type to try, and the check registered for that type (``Plugins.upload_check_for``: Pillow for
PNG and JPEG here, pyHanko's reader for PDF from ``signing``) must read it. A file name with
control or bidirectional formatting characters is refused.
"""

from __future__ import annotations

import hashlib
import io
import struct
import unicodedata
import warnings
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from engine import files, forms_bridge
from engine.access.accounts import Principal
from engine.access.scope import can_act, visible_contract, visible_task
from engine.errors import InvalidInput, NotFound, NotPermitted, QuotaExceeded
from engine.files import sniff
from engine.models import Contract, Document, HumanTask, User

if TYPE_CHECKING:
    from engine.commands.aqd import Aqd
    from engine.plugins import Plugins

#: the upload routes read the limit from here
MAX_BYTES = files.MAX_BYTES
#: An image larger than this is refused before it is decoded (a 300 dpi A4 scan is 8.7 Mpx).
MAX_PIXELS = 40_000_000
PENDING = "pending"
RECORDED = "recorded"
UPLOAD_KIND = "proof"
#: Bidirectional formatting characters (embeddings, overrides, isolates, marks): in a file name
#: they can make ``invoice_fdp.exe`` read as another name.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

NOT_READABLE = "the file is damaged or is not the PDF, PNG or JPEG it claims to be"
NOT_READABLE_FIELD = "not a readable PDF, PNG or JPEG"
BAD_NAME = "the file name contains control or bidirectional formatting characters"
BAD_NAME_FIELD = "invalid characters in the file name"
CONTRACT_QUOTA = "this contract has reached its upload quota"
CONTRACT_QUOTA_FIELD = "upload quota of the contract reached"
USER_QUOTA = "you have too many uploads waiting for their task to be completed"
USER_QUOTA_FIELD = "too many pending uploads"
EXPIRED = "the attached document has expired; upload it again"
EXPIRED_FIELD = "expired; upload it again"


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str
    data: bytes


@dataclass(frozen=True)
class Checked:
    """An upload whose bytes parsed as ``content_type``, with its cleaned file name."""

    upload: Upload
    content_type: str
    filename: str
    sha256: str


def _png_is_whole(data: bytes) -> bool:
    """Every chunk of a PNG is complete with a matching CRC, up to its IEND chunk."""
    offset = 8  # the signature
    while offset + 12 <= len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        end = offset + 12 + length
        if end > len(data):
            return False
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : end - 4]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4 : end])[0]:
            return False
        if kind == b"IEND":
            return True
        offset = end
    return False


def _jpeg_is_whole(data: bytes) -> bool:
    """A JPEG ends with its end-of-image marker (trailing padding aside)."""
    return data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")


def image_problem(data: bytes) -> str | None:
    """Why ``data`` is not a PNG or JPEG image that decodes (None: it decodes).

    Pillow's own truncation check is a process-wide switch that WeasyPrint turns off when it is
    imported (``ImageFile.LOAD_TRUNCATED_IMAGES = True``), so the file's end is checked here
    first, whatever else the process has loaded."""
    from PIL import Image  # noqa: PLC0415 (Pillow loads when the first image is checked)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ("PNG", "JPEG"):
                    return f"a {image.format} image, not PNG or JPEG"
                whole = _png_is_whole if image.format == "PNG" else _jpeg_is_whole
                if not whole(data):
                    return "the image is truncated"
                width, height = image.size
                if width * height > MAX_PIXELS:
                    return f"an image of {width}x{height} pixels is too large"
                image.load()  # decodes every pixel: a truncated or corrupt file fails here
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning) as exc:
        return f"the image does not decode ({type(exc).__name__})"
    return None


def register(plugins: Plugins) -> None:
    """The engine's own upload checks (images); ``signing`` adds PDF's."""
    plugins.register_upload_check("image/png", image_problem)
    plugins.register_upload_check("image/jpeg", image_problem)


def clean_filename(upload: Upload) -> str:
    """The name kept for the file: its last path segment, at most 200 characters; control
    characters (NUL included) and bidirectional formatting characters are refused."""
    if any(
        unicodedata.category(ch) in ("Cc", "Cs") or ch in BIDI_CONTROLS for ch in upload.filename
    ):
        raise InvalidInput(BAD_NAME, fields={upload.field: BAD_NAME_FIELD})
    return upload.filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "document"


def check(plugins: Plugins, upload: Upload) -> Checked:
    """Check one file before any transaction opens (parsing takes time and holds no lock);
    ``InvalidInput`` names the form field on refusal."""
    if not upload.data:
        raise InvalidInput("the file is empty", fields={upload.field: "empty file"})
    if len(upload.data) > MAX_BYTES:
        raise InvalidInput(
            "the file is larger than 5 MB", fields={upload.field: "larger than 5 MB"}
        )
    name = clean_filename(upload)
    content_type = sniff(upload.data)
    parse = plugins.upload_check_for(content_type) if content_type else None
    if content_type is None or parse is None:
        raise InvalidInput(
            "only PDF, PNG or JPEG files are accepted",
            fields={upload.field: "PDF, PNG or JPEG only"},
        )
    if parse(upload.data) is not None:
        raise InvalidInput(NOT_READABLE, fields={upload.field: NOT_READABLE_FIELD})
    return Checked(upload, content_type, name, hashlib.sha256(upload.data).hexdigest())


def _check_quotas(
    session: Session, aqd: Aqd, contract_id: int, actor: str, checked: list[Checked]
) -> None:
    """Refuse uploads past the contract's quota (files and bytes, pending or recorded) or the
    user's (files and bytes pending at once). The contract's row and the user's are locked
    first, so two uploads at once cannot both pass the last free place."""
    if not checked:
        return
    s = aqd.settings
    mb = 1024 * 1024
    field = checked[0].upload.field
    session.execute(select(Contract.id).where(Contract.id == contract_id).with_for_update())
    session.execute(select(User.id).where(User.username == actor).with_for_update())
    adding = sum(len(c.upload.data) for c in checked)
    files, size = session.execute(
        select(func.count(Document.id), func.coalesce(func.sum(Document.size), 0)).where(
            Document.contract_id == contract_id, Document.kind == UPLOAD_KIND
        )
    ).one()
    if files + len(checked) > s.upload_contract_files or size + adding > s.upload_contract_mb * mb:
        raise QuotaExceeded(CONTRACT_QUOTA, fields={field: CONTRACT_QUOTA_FIELD})
    files, size = session.execute(
        select(func.count(Document.id), func.coalesce(func.sum(Document.size), 0)).where(
            Document.uploaded_by == actor, Document.status == PENDING
        )
    ).one()
    if (
        files + len(checked) > s.upload_user_pending_files
        or size + adding > s.upload_user_pending_mb * mb
    ):
        raise QuotaExceeded(USER_QUOTA, fields={field: USER_QUOTA_FIELD})


def store_pending(
    session: Session,
    aqd: Aqd,
    contract_id: int,
    checked: list[Checked],
    actor: str,
    task_guid: str,
) -> list[Document]:
    """Store checked uploads of a task as pending, within the quotas."""
    _check_quotas(session, aqd, contract_id, actor, checked)
    now = aqd.clock.now()
    expires = now + timedelta(hours=aqd.settings.upload_pending_hours)
    stored = []
    for c in checked:
        document = Document(
            contract_id=contract_id,
            kind=UPLOAD_KIND,
            filename=c.filename,
            content_type=c.content_type,
            size=len(c.upload.data),
            sha256=c.sha256,
            content=c.upload.data,
            task_guid=task_guid,
            uploaded_by=actor,
            uploaded_at=now,
            status=PENDING,
            expires_at=expires,
        )
        session.add(document)
        stored.append(document)
    session.flush()
    return stored


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
    session: Session,
    contract_id: int,
    programme: str,
    form_key: str,
    data: dict[str, Any],
    task_guid: str | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Every document a submission points to belongs to this contract and has that hash; a
    pending one was uploaded to this task (``task_guid``) and has not expired at ``now``.
    Returns the pending documents referenced (locked: the expiry job cannot delete them
    before this transaction ends)."""
    pending: list[int] = []
    for name in upload_fields(programme, form_key):
        ref = data.get(name)
        if not isinstance(ref, dict):
            continue
        document_id = ref.get("document_id")
        document = (
            session.scalar(select(Document).where(Document.id == document_id).with_for_update())
            if isinstance(document_id, int) and not isinstance(document_id, bool)
            else None
        )
        if (
            document is None
            or document.contract_id != contract_id
            or document.sha256 != ref.get("sha256")
            or (document.status == PENDING and document.task_guid != task_guid)
        ):
            raise InvalidInput(
                "the attached document is not this contract's or has changed",
                fields={name: "unknown document"},
            )
        if document.status == PENDING:
            if now is not None and document.expires_at is not None and document.expires_at <= now:
                raise InvalidInput(EXPIRED, fields={name: EXPIRED_FIELD})
            pending.append(document.id)
    return pending


def task_references(
    session: Session, task_guid: str, data: dict[str, Any], now: datetime
) -> list[int]:
    """:func:`check_references` for a task known by its guid (``aqd tasks complete``)."""
    if not isinstance(data, dict):
        return []  # the command refuses it
    task = session.scalar(select(HumanTask).where(HumanTask.task_guid == task_guid))
    if task is None:
        raise NotFound(f"task {task_guid} not found")
    return check_references(
        session, task.contract_id, task.programme, task.form_key, data, task_guid, now
    )


def record_completion(
    session: Session, task_guid: str, referenced: list[int], now: datetime
) -> None:
    """The task completes (same transaction as its event): the pending uploads it references
    are recorded; its other pending uploads (replaced or retried files) expire now."""
    if referenced:
        session.execute(
            update(Document)
            .where(Document.id.in_(referenced), Document.status == PENDING)
            .values(status=RECORDED, expires_at=None)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Document)
        .where(Document.task_guid == task_guid, Document.status == PENDING)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


def expire_pending(aqd: Aqd, batch: int = 500) -> dict[str, int]:
    """Delete the pending uploads that expired (one transaction per batch); returns how many
    files and bytes were freed. Safe on several schedulers at once."""
    files = freed = 0
    while True:
        with aqd.session() as session, session.begin():
            now = aqd.clock.now()
            rows = session.execute(
                select(Document.id, Document.size)
                .where(Document.status == PENDING, Document.expires_at <= now)
                .order_by(Document.expires_at, Document.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            if rows:
                session.execute(
                    delete(Document)
                    .where(Document.id.in_([r.id for r in rows]), Document.status == PENDING)
                    .execution_options(synchronize_session=False)
                )
        files += len(rows)
        freed += sum(r.size for r in rows)
        if len(rows) < batch:
            return {"files": files, "bytes": freed}


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
        .where(Document.contract_id == contract_id, Document.status == RECORDED)
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
    """A recorded document of a contract the principal may read, or a pending upload of the
    principal's own."""
    document = session.get(Document, document_id)
    if document is None or (
        document.status == PENDING and document.uploaded_by != principal.username
    ):
        raise NotFound(f"document {document_id} not found")
    visible_contract(session, principal, document.contract_id)  # NotFound outside the scope
    return document


def attach_to_task(aqd: Aqd, principal: Principal, guid: str, upload: Upload) -> dict[str, Any]:
    """Store a file for a form field of a task the principal may complete (API path: upload,
    then complete the task with the returned reference). The file stays pending until the
    task completes with it."""
    checked = check(aqd.plugins, upload)
    with aqd.session() as session, session.begin():
        task, contract = visible_task(session, principal, guid)
        if not can_act(principal, task, contract) or task.status != "ready":
            raise NotPermitted("you cannot add documents to this task")
        if upload.field not in upload_fields(task.programme, task.form_key):
            raise InvalidInput("this form takes no file here", fields={upload.field: "no file"})
        [stored] = store_pending(session, aqd, contract.id, [checked], principal.username, guid)
        return reference(stored)
