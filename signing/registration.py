"""Signing's plug-ins for the engine: the outbox handlers of the signing side effects, the
validator of signed documents that contract verification runs, the RFC 3161 time-stamper
of the hash-chain anchors (``engine/audit/anchors.py``) and the check that an uploaded PDF opens
as one.

The composition root that may import ``signing`` (``api.bootstrap``) calls :func:`register`
with the engine's :class:`engine.plugins.Plugins`. The plug-ins are registered without importing
pyHanko: each imports ``signing.service`` when it first runs. Every ``aqd`` command builds its
engine through that root, and most never sign, so a command starts about a second sooner than
with pyHanko loaded up front.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from engine.audit.package import SIGNED_KIND
from engine.outbox.handlers import HandlerResult, OutboxItem
from engine.plugins import Plugins
from signing.requests import APPLY_KIND

if TYPE_CHECKING:
    from engine import Aqd


def handle_request(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    from signing import service  # noqa: PLC0415 (pyHanko loads when a signing plug-in first runs)

    return service.handle_request(aqd, item)


def handle_apply(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    from signing import service  # noqa: PLC0415 (pyHanko loads when a signing plug-in first runs)

    return service.handle_apply(aqd, item)


def handle_reminder(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    from signing import service  # noqa: PLC0415 (pyHanko loads when a signing plug-in first runs)

    return service.handle_reminder(aqd, item)


def handle_closed(aqd: Aqd, item: OutboxItem) -> HandlerResult:
    from signing import service  # noqa: PLC0415 (pyHanko loads when a signing plug-in first runs)

    return service.handle_closed(aqd, item)


def signed_document_problem(aqd: Aqd, pdf: bytes) -> str | None:
    from signing import service  # noqa: PLC0415 (pyHanko loads when a signing plug-in first runs)

    return service.signed_document_problem(aqd, pdf)


def pdf_problem(content: bytes) -> str | None:
    from signing import uploads  # noqa: PLC0415 (pyHanko loads when a signing plug-in first runs)

    return uploads.pdf_problem(content)


class AnchorTimeStamper:
    """The anchors' time-stamper (``engine.plugins.TimeStamper``) through ``signing.service``."""

    def stamp(self, aqd: Aqd, digest: bytes) -> tuple[bytes, str]:
        from signing import service  # noqa: PLC0415 (pyHanko loads when a signing plug-in first runs)

        return service.stamp_anchor(aqd, digest)

    def check(self, aqd: Aqd, token: bytes, digest: bytes) -> tuple[datetime | None, str | None]:
        from signing import service  # noqa: PLC0415 (pyHanko loads when a signing plug-in first runs)

        return service.check_anchor_token(aqd, token, digest)


def register(plugins: Plugins) -> None:
    """Add signing's handlers, its signed-document validator, the anchors' time-stamper and
    the check of uploaded PDFs."""
    plugins.register_handler("signature_request", handle_request)
    plugins.register_handler(APPLY_KIND, handle_apply)
    plugins.register_handler("signature_reminder", handle_reminder)
    plugins.register_handler("signing_closed", handle_closed)
    plugins.register_document_validator(SIGNED_KIND, signed_document_problem)
    plugins.timestamper = AnchorTimeStamper()
    plugins.register_upload_check("application/pdf", pdf_problem)
