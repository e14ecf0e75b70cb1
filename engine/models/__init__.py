"""Persistence models. Only ``engine`` imports them; other packages use the engine façade."""

from engine.models.auth import ApiToken, LoginThrottle, WebSession
from engine.models.base import Base
from engine.models.parties import ROLES, Beneficiary, Employer, Office, User, UserRole
from engine.models.runtime import (
    Contract,
    Event,
    HumanTask,
    Outbox,
    ProcessDefinition,
    ProcessInstance,
    StepTiming,
)

__all__ = [
    "ROLES",
    "ApiToken",
    "LoginThrottle",
    "WebSession",
    "Base",
    "Beneficiary",
    "Contract",
    "Employer",
    "Event",
    "HumanTask",
    "Office",
    "Outbox",
    "ProcessDefinition",
    "ProcessInstance",
    "StepTiming",
    "User",
    "UserRole",
]
