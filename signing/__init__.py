"""PAdES signing and validation (the only package that imports pyHanko).

First slice: the development PKI (``signing.pki``) and PAdES B-T / B-LTA signing and validation
(``signing.pades``). Signature requests, the ceremony page and the outbox handler
``signing.apply`` arrive with the e-signature issue.
"""

from signing.pades import Field, SignatureCheck, add_fields, sign, verify
from signing.pki import DevPki, Identity, create_dev_pki, issue_signer

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
