"""Engine errors: each carries an HTTP-ish status, a stable code and optional field details.

Boundaries map them: the CLI prints ``str(error)`` on one line and exits 1, the API (web issue)
returns ``{"error": code, "detail": message, "fields": {...}}`` with ``status_code``. Expected
business conflicts are never 500.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    status_code = 400
    code = "engine_error"

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.message, "fields": self.fields}


class NotFound(EngineError):
    status_code = 404
    code = "not_found"


class NoRuleInForce(NotFound):
    """A decision asked about a day for which it has no rule: no rule matches the case then, or
    a parameter it reads has no value on that day (docs/rules.md)."""

    code = "no_rule_in_force"


class Conflict(EngineError):
    """Someone else changed the contract first (revision moved, task already done, lock held)."""

    status_code = 409
    code = "conflict"


class TaskNotReady(Conflict):
    code = "task_not_ready"


class StaleRevision(Conflict):
    code = "stale_revision"


class QuotaExceeded(Conflict):
    """A contract's or a user's uploads reached their quota (``AQD_UPLOAD_*``)."""

    code = "quota_exceeded"


class NotPermitted(EngineError):
    status_code = 403
    code = "not_permitted"


class Unauthenticated(EngineError):
    """No valid session or token, or wrong credentials (never says which part was wrong)."""

    status_code = 401
    code = "unauthenticated"


class TooManyAttempts(EngineError):
    """Login throttled; ``retry_after`` is in seconds."""

    status_code = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, fields={"retry_after": retry_after})
        self.retry_after = retry_after


class Busy(EngineError):
    """A queue of work is full (verification runs): ask again later; ``retry_after`` is in
    seconds."""

    status_code = 429
    code = "busy"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, fields={"retry_after": retry_after})
        self.retry_after = retry_after


class InvalidInput(EngineError):
    """Submitted data is wrong; ``fields`` maps JSON paths to messages."""

    status_code = 422
    code = "invalid_input"


class DefinitionInvalid(EngineError):
    """A BPMN/DMN folder the engine refuses to deploy. ``problems`` lists every finding."""

    status_code = 422
    code = "definition_invalid"

    def __init__(self, problems: list[DefinitionProblem]) -> None:
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{first}{more}",
            fields={p.location(): p.message for p in problems},
        )


class DefinitionProblem:
    """One finding of the deploy-time checks: file, BPMN element id, line and message."""

    def __init__(self, file: str, message: str, element: str = "", line: int = 0) -> None:
        self.file = file
        self.element = element
        self.line = line
        self.message = message

    def location(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.element:
            where += f" [{self.element}]"
        return where

    def __str__(self) -> str:
        return f"{self.location()}: {self.message}"

    def __repr__(self) -> str:
        return f"DefinitionProblem({self!s})"


class SandboxViolation(EngineError):
    """Untrusted model code was refused at compile time or stopped at run time."""

    status_code = 422
    code = "sandbox_violation"

    def __init__(self, message: str, *, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class ProcessError(EngineError):
    """A script, expression or decision failed while the contract ran; nothing was saved."""

    status_code = 422
    code = "process_error"

    def __init__(self, message: str, *, element: str = "", line: int = 0) -> None:
        super().__init__(message, fields={"element": element, "line": line} if element else None)
        self.element = element
        self.line = line


class IntegrityError(EngineError):
    """Replay or hash-chain verification found a divergence."""

    status_code = 409
    code = "integrity_error"


class ConfigurationError(EngineError):
    """A setting the operation needs is missing or refused in this mode (``AQD_MODE``)."""

    status_code = 503
    code = "configuration_error"
