"""Tunisian bank and postal accounts: the 20-digit RIB and its IBAN.

RIB = bank (2) + branch (3) + account (13) + key (2), with ``key = 97 - (first 18 digits * 100
mod 97)``; the IBAN is ``TN`` + ISO 13616 check digits + the RIB (always ``TN59…`` when the RIB
key is right).
"""

from __future__ import annotations

import re

_RIB = re.compile(r"^[0-9]{20}$")


def rib_key(first18: str) -> str:
    return f"{97 - (int(first18) * 100) % 97:02d}"


def make_rib(bank: int, branch: int, account: int) -> str:
    """A valid RIB from its parts (tests, demo data, the development bank)."""
    first18 = f"{bank:02d}{branch:03d}{account:013d}"
    return first18 + rib_key(first18)


def valid_rib(rib: str) -> bool:
    return bool(_RIB.match(rib)) and rib_key(rib[:18]) == rib[18:]


def iban_from_rib(rib: str, country: str = "TN") -> str:
    """ISO 13616: move country + ``00`` behind the BBAN, letters to numbers, ``98 - n mod 97``."""
    digits = "".join(str(int(c, 36)) for c in rib + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{rib}"
