"""Aqd engine façade: the only package that drives SpiffWorkflow or owns the database.

Other packages (api, signing, bench, tests) import from here, never from ``engine.runtime``.
"""

from engine.clock import Clock, FrozenClock, SystemClock
from engine.commands.aqd import Aqd
from engine.config import Settings, get_settings
from engine.errors import (
    Busy,
    Conflict,
    DefinitionInvalid,
    EngineError,
    IntegrityError,
    InvalidInput,
    NotFound,
    NotPermitted,
    ProcessError,
    QuotaExceeded,
    SandboxViolation,
    StaleRevision,
    TaskNotReady,
    TooManyAttempts,
    Unauthenticated,
)

__all__ = [
    "Aqd",
    "Busy",
    "Clock",
    "Conflict",
    "DefinitionInvalid",
    "EngineError",
    "FrozenClock",
    "IntegrityError",
    "InvalidInput",
    "NotFound",
    "NotPermitted",
    "ProcessError",
    "QuotaExceeded",
    "SandboxViolation",
    "Settings",
    "StaleRevision",
    "SystemClock",
    "TaskNotReady",
    "TooManyAttempts",
    "Unauthenticated",
    "get_settings",
]
