"""Persistence models. Only ``engine`` imports them; other packages use the engine façade."""

from engine.models.analytics import (
    BaselineDuration,
    StepRollup,
    StepRollupState,
    VerificationRun,
)
from engine.models.anchors import ChainAnchor, ChainAnchorLeaf
from engine.models.auth import ApiToken, LoginThrottle, WebSession
from engine.models.base import Base
from engine.models.contacts import ContactChange, ContactEvent
from engine.models.documents import Document
from engine.models.migration_batches import MigrationBatch, MigrationItem
from engine.models.modeller import DefinitionDraft
from engine.models.parties import (
    ROLES,
    Beneficiary,
    BeneficiaryFactChange,
    ContractRequest,
    Employer,
    EmployerCheck,
    EmployerFact,
    EmployerUpload,
    Office,
    User,
    UserRole,
)
from engine.models.payments import PayeeAccount, PaymentBatch, PaymentOrder
from engine.models.runtime import (
    Contract,
    Event,
    HumanTask,
    Outbox,
    ProcessDefinition,
    ProcessInstance,
    StepTiming,
)
from engine.models.signing import Notification, SignatureRequest

__all__ = [
    "ROLES",
    "ApiToken",
    "Base",
    "BaselineDuration",
    "Beneficiary",
    "BeneficiaryFactChange",
    "ChainAnchor",
    "ChainAnchorLeaf",
    "ContactChange",
    "ContactEvent",
    "Contract",
    "ContractRequest",
    "DefinitionDraft",
    "Document",
    "Employer",
    "EmployerCheck",
    "EmployerFact",
    "EmployerUpload",
    "Event",
    "HumanTask",
    "LoginThrottle",
    "MigrationBatch",
    "MigrationItem",
    "Notification",
    "Office",
    "Outbox",
    "PayeeAccount",
    "PaymentBatch",
    "PaymentOrder",
    "ProcessDefinition",
    "ProcessInstance",
    "SignatureRequest",
    "StepRollup",
    "StepRollupState",
    "StepTiming",
    "User",
    "UserRole",
    "VerificationRun",
    "WebSession",
]
