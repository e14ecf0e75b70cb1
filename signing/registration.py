"""Signing's hooks into the engine: the outbox handlers of the signing side effects, the
validator of signed documents that contract verification runs, and the RFC 3161 time-stamps
of the hash-chain anchors (``engine/services/anchors.py``).

They are registered without importing pyHanko: each hook imports ``signing.service`` when it
first runs. Every ``aqd`` command registers them (the worker, the outbox relay and the demo run
the side effects; ``verify-contracts --signatures`` validates), and most never sign, so a
command starts about a second sooner than with pyHanko loaded up front.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.services.anchors import TIMESTAMP_HOOKS
from engine.services.replay import DOCUMENT_VALIDATORS
from engine.services.signature_requests import APPLY_KIND
from engine.worker.handlers import HandlerResult, OutboxItem, register_handler


def handle_request(item: OutboxItem) -> HandlerResult:
    from signing import service

    return service.handle_request(item)


def handle_apply(item: OutboxItem) -> HandlerResult:
    from signing import service

    return service.handle_apply(item)


def handle_reminder(item: OutboxItem) -> HandlerResult:
    from signing import service

    return service.handle_reminder(item)


def handle_closed(item: OutboxItem) -> HandlerResult:
    from signing import service

    return service.handle_closed(item)


def signed_document_problem(aqd: Any, pdf: bytes) -> str | None:
    from signing import service

    return service.signed_document_problem(aqd, pdf)


def stamp_anchor(aqd: Any, digest: bytes) -> tuple[bytes, str]:
    from signing import service

    return service.stamp_anchor(aqd, digest)


def check_anchor_token(aqd: Any, token: bytes, digest: bytes) -> tuple[datetime | None, str | None]:
    from signing import service

    return service.check_anchor_token(aqd, token, digest)


def register() -> None:
    register_handler("signature_request", handle_request)
    register_handler(APPLY_KIND, handle_apply)
    register_handler("signature_reminder", handle_reminder)
    register_handler("signing_closed", handle_closed)
    DOCUMENT_VALIDATORS["contract_signed"] = signed_document_problem
    TIMESTAMP_HOOKS["stamp"] = stamp_anchor
    TIMESTAMP_HOOKS["check"] = check_anchor_token
