"""A Karama request from the test world's office, employer and beneficiary."""

from __future__ import annotations

REQUEST: dict[str, object] = {
    "office": "TUN",
    "employer_mf": "1234567A",
    "beneficiary_cin": "12345678",
    "nationality": "TN",
    "diploma_level": "HIGHER_ED",
    "diploma_date": "2021-06-30",
    "request_date": "2025-03-01",
    "start_date": "2025-04-01",
}
