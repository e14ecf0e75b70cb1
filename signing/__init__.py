"""PAdES signing and validation (the only package that imports pyHanko).

The development PKI (``signing.pki``), PAdES B-T / B-LTA signing and validation
(``signing.pades``), the signing side effects and the verification report
(``signing.service``), and their registration with the engine (``signing.registration``).

The names below are imported on first use, so that importing ``signing.registration`` (every
``aqd`` command does) does not load pyHanko.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signing.pades import Field, SignatureCheck, add_fields, sign, verify
    from signing.pki import DevPki, Identity, create_dev_pki, issue_signer

_WHERE = {
    "Field": "signing.pades",
    "SignatureCheck": "signing.pades",
    "add_fields": "signing.pades",
    "sign": "signing.pades",
    "verify": "signing.pades",
    "DevPki": "signing.pki",
    "Identity": "signing.pki",
    "create_dev_pki": "signing.pki",
    "issue_signer": "signing.pki",
}

__all__ = [
    "DevPki",
    "Field",
    "Identity",
    "SignatureCheck",
    "add_fields",
    "create_dev_pki",
    "issue_signer",
    "sign",
    "verify",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'signing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
