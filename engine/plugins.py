"""The engine's plug-in registry: everything the engine calls but does not own.

One :class:`Plugins` per engine, filled by a composition root (``engine.bootstrap`` for the
engine's own plug-ins, ``api.bootstrap`` for the whole application, which adds ``signing``) and
handed to :class:`engine.Aqd` when it is built. Nothing registers itself by being imported.

* **side-effect handlers** by outbox kind, and their batch forms (``engine.outbox.handlers``);
* **document validators** by document kind: given a stored document's bytes, what is wrong
  with it (None: valid) — ``signing`` validates the signed contract PDFs that replay and the
  audit package check;
* the **time-stamper** of the hash-chain anchors (RFC 3161, ``signing`` again);
* **upload checks** by content type: given an uploaded file's bytes, why they are not a file of
  that type (None: they parse as one) — the engine checks images with Pillow, ``signing`` checks
  PDFs with pyHanko's reader; a type without a check is not accepted.

``root`` names the composition root that built the registry (``module:function``, a
:class:`EngineRoot`): a process the engine spawns (``verify-contracts --processes``) imports it
to build its own engine with the same plug-ins.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from engine.errors import InvalidInput
from engine.outbox.handlers import BatchHandler, Handler

if TYPE_CHECKING:
    from engine.commands.aqd import Aqd
    from engine.config import Settings


class DocumentValidator(Protocol):
    """What is wrong with a stored document's bytes (None: valid), with ``aqd``'s trust
    settings."""

    def __call__(self, aqd: Aqd, content: bytes, /) -> str | None: ...


class UploadCheck(Protocol):
    """Why ``content`` is not a readable file of the type it is registered for (None: it
    is)."""

    def __call__(self, content: bytes, /) -> str | None: ...


class TimeStamper(Protocol):
    """RFC 3161 time-stamps over the anchors' roots."""

    def stamp(self, aqd: Aqd, digest: bytes) -> tuple[bytes, str]:
        """A time-stamp token over ``digest`` and the name of the authority that gave it."""
        ...

    def check(self, aqd: Aqd, token: bytes, digest: bytes) -> tuple[datetime | None, str | None]:
        """When ``token`` says ``digest`` existed, and what is wrong with it (None: valid)."""
        ...


class EngineRoot(Protocol):
    """A composition root: builds an engine, with its plug-ins, from settings."""

    def __call__(self, settings: Settings, /) -> Aqd: ...


@dataclass
class Plugins:
    """The plug-ins of one engine (see the module's docstring)."""

    root: str = "engine.bootstrap:build"
    handlers: dict[str, Handler] = field(default_factory=dict)
    batch_handlers: dict[str, tuple[BatchHandler, Handler]] = field(default_factory=dict)
    document_validators: dict[str, DocumentValidator] = field(default_factory=dict)
    timestamper: TimeStamper | None = None
    upload_checks: dict[str, UploadCheck] = field(default_factory=dict)

    # -- side-effect handlers --------------------------------------------------------------------

    def register_handler(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def unregister_handler(self, kind: str) -> None:
        self.handlers.pop(kind, None)

    def handler_for(self, kind: str) -> Handler | None:
        return self.handlers.get(kind)

    def register_batch_handler(self, kind: str, batch: BatchHandler, *, handler: Handler) -> None:
        """Register ``batch`` as the batch form of ``handler`` (the per-item handler of
        ``kind``, registered too)."""
        self.handlers[kind] = handler
        self.batch_handlers[kind] = (batch, handler)

    def batch_handler_for(self, kind: str) -> BatchHandler | None:
        """The batch handler of ``kind``, if one is registered for its current per-item
        handler."""
        entry = self.batch_handlers.get(kind)
        if entry is None or self.handlers.get(kind) is not entry[1]:
            return None
        return entry[0]

    def handled_kinds(self) -> list[str]:
        return sorted(self.handlers)

    # -- validators and the time-stamper ---------------------------------------------------------

    def register_document_validator(self, kind: str, validator: DocumentValidator) -> None:
        self.document_validators[kind] = validator

    def validator_for(self, kind: str) -> DocumentValidator | None:
        return self.document_validators.get(kind)

    def register_upload_check(self, content_type: str, check: UploadCheck) -> None:
        self.upload_checks[content_type] = check

    def upload_check_for(self, content_type: str) -> UploadCheck | None:
        return self.upload_checks.get(content_type)

    def require_validators(self) -> None:
        """Refuse a verification asked to validate signatures when no validator is registered:
        it would pass without checking any."""
        if not self.document_validators:
            raise InvalidInput(
                "no signature validator is registered in this process: verify signatures "
                "through `aqd` or the web application",
                fields={"signatures": "unavailable"},
            )

    def require_timestamper(self) -> TimeStamper:
        if self.timestamper is None:
            raise InvalidInput(
                "no time-stamping service is registered in this process: anchor through `aqd` "
                "or the worker",
                fields={"tsa": "unavailable"},
            )
        return self.timestamper


def root_named(name: str) -> EngineRoot:
    """The composition root ``module:function`` (a spawned process builds its engine with it)."""
    module, _, function = name.partition(":")
    root: EngineRoot = getattr(importlib.import_module(module), function)
    return root
