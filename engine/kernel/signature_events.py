"""What the engine knows about signatures: the parties' order and the events signing/ records.

The BPMN of every programme has one signing step per party (``sign_<party>``, a receive task
waiting for the ``signature_result`` message) in :data:`SIGNING_PARTIES` order; signing/ owns
the requests, the ceremony and the cryptography and reports each outcome back as that message.
The ceremony's facts (link opened by the wrong party, consent with its text's hash, IP and user
agent, signature applied) are recorded as annotation events in the contract's hash chain: they
change no workflow state, so replay only checks their place in the chain.
"""

from __future__ import annotations

from typing import Any

#: The order the programmes require: beneficiary, employer, then the office (agency seal).
SIGNING_PARTIES: tuple[str, ...] = ("beneficiary", "employer", "office")

#: Event kinds signing/ appends with ``Aqd.record_event`` (no workflow change).
SIGNATURE_EVENT_KINDS: frozenset[str] = frozenset(
    {
        "signature_requested",
        "signature_code_sent",
        "signature_consented",
        "signature_applied",
        "signature_refused",
        "signature_declined",
        "signature_link_reissued",
        "signature_failed",
        "signatures_closed",
    }
)


def signature_result(party: str, outcome: str = "signed", **extra: Any) -> dict[str, Any]:
    """The ``signature_result`` message payload for one party's signing step."""
    if party not in SIGNING_PARTIES:
        raise ValueError(f"unknown signing party {party!r}")
    return {"party": party, "signature_outcome": outcome, **extra}
