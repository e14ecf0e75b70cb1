"""The development bank: answers a pain.001 batch with a camt.054 notification.

The bank is the one true external border of the payments adapter; tests, the benchmark and the
demo use this stand-in. It pays every transfer except those listed in ``reject`` (end-to-end id
→ ISO reason, e.g. ``"AC01: wrong account number"``)."""

from __future__ import annotations

from datetime import datetime

from engine.payments.iso20022 import PAIN, Result, camt054, validate


def answer(pain_xml: bytes, at: datetime, reject: dict[str, str] | None = None) -> bytes:
    reject = reject or {}
    tree = validate(pain_xml, "pain.001.001.03.xsd")
    ns = {"p": PAIN}
    msg_id = str(tree.findtext(".//p:GrpHdr/p:MsgId", default="", namespaces=ns) or "")
    debtor_iban = str(tree.findtext(".//p:DbtrAcct/p:Id/p:IBAN", default="", namespaces=ns) or "")
    results = []
    for n, tx in enumerate(tree.iterfind(".//p:CdtTrfTxInf", ns), 1):
        e2e = tx.findtext("p:PmtId/p:EndToEndId", default="", namespaces=ns)
        amount = tx.findtext("p:Amt/p:InstdAmt", default="0", namespaces=ns)
        reason = reject.get(e2e, "")
        results.append(Result(e2e, not reason, reason, f"BK{msg_id[-12:]}{n:07d}"[:35], amount))
    return camt054(f"N{msg_id}"[:35], at, debtor_iban, results)
