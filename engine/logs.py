"""Structured logs, configured in one place.

Every process (CLI, API, worker, scheduler) calls :func:`configure` once at start-up. Aqd's
loggers live under ``aqd.`` and write one JSON object a line to standard error:

``{"at": ..., "level": ..., "logger": ..., "event": ..., "message": ..., <fields>}``

:func:`timed` wraps one unit of work (a command, a signature, a payment batch, a migration
step) and writes one line when it ends, with its duration in milliseconds and its outcome
(``ok``, or the error's code). The request id of the HTTP request or Celery task that runs the
work is carried by a context variable and added to every line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

#: the id of the request (HTTP ``X-Request-Id``, Celery task id) the current work belongs to
request_id: ContextVar[str | None] = ContextVar("aqd_request_id", default=None)

#: ``LogRecord`` attributes that are not fields of ours
_RESERVED = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)
_HANDLER_NAME = "aqd-structured"


class JsonFormatter(logging.Formatter):
    """One JSON object a line; the record's ``extra`` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Short human lines for a terminal: ``LEVEL logger: message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _RESERVED and not k.startswith("_")
        )
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        return f"{text} {fields}" if fields else text


def configure(
    level: str = "INFO", fmt: Literal["json", "text"] = "json", stream: Any = None
) -> None:
    """Send ``aqd.*`` logs to ``stream`` (standard error) at ``level``; idempotent.

    Other libraries' loggers keep warnings and above, in the same format.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger("aqd").setLevel(level.upper())


def configure_process(settings: Any, service: bool) -> None:
    """The one start-up call of every process: ``settings.log_level`` when set, else INFO for a
    service (``serve``, ``worker``, ``scheduler``: one line per command, side effect and
    request) and WARNING for a one-off command (its output is its answer)."""
    level = settings.log_level or ("INFO" if service else "WARNING")
    configure(level, settings.log_format)


def get(name: str) -> logging.Logger:
    """The logger ``aqd.<name>``."""
    return logging.getLogger(f"aqd.{name}")


@contextmanager
def timed(logger: logging.Logger, event: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log one line for the work in the block: its fields, ``ms`` and ``outcome``.

    The block may add fields to the yielded dict (a contract reference known only once the
    work ran, a count). An exception is logged with ``outcome`` set to the error's code (or
    its class name) and re-raised.
    """
    started = time.perf_counter()
    extra: dict[str, Any] = {"event": event, **fields}
    try:
        yield extra
    except BaseException as exc:
        extra["outcome"] = getattr(exc, "code", None) or type(exc).__name__
        extra["error"] = str(exc)[:500]
        extra["ms"] = round((time.perf_counter() - started) * 1000, 2)
        # refused input and conflicts (4xx) are outcomes, not faults of the system
        expected = getattr(exc, "status_code", 500) < 500
        logger.log(logging.INFO if expected else logging.ERROR, event, extra=extra)
        raise
    extra.setdefault("outcome", "ok")
    extra["ms"] = round((time.perf_counter() - started) * 1000, 2)
    if logger.isEnabledFor(logging.INFO):
        logger.info(event, extra=extra)
