"""ISO 20022 files: pain.001.001.03 (credit transfers we send) and camt.054.001.02 (the bank's
debit notifications we read), validated against the schemas in ``xsd/`` (see its README).

XML is parsed without entities, DTDs or network access (DESIGN.md invariant 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from lxml import etree

from engine.errors import InvalidInput

XSD = Path(__file__).resolve().parent / "xsd"
PAIN = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
CAMT = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"


class FileInvalid(InvalidInput):
    """A payment file does not match its ISO 20022 schema (or cannot be parsed)."""


@lru_cache(maxsize=4)
def schema(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD / name), parser))


def safe_parse(data: bytes) -> etree._ElementTree:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise FileInvalid(f"not well-formed XML: {exc}") from None
    tree = root.getroottree()
    if getattr(tree.docinfo, "doctype", ""):
        raise FileInvalid("DTDs are not accepted")
    return tree


def validate(data: bytes, xsd: str) -> etree._ElementTree:
    tree = safe_parse(data)
    checker = schema(xsd)
    if not checker.validate(tree):
        lines = str(checker.error_log).splitlines()
        where = lines[0] if lines else "invalid"
        raise FileInvalid(f"{xsd}: {where}")
    return tree


@dataclass(frozen=True)
class Debtor:
    """The paying account (the FNE's account at its bank); from the environment."""

    name: str
    iban: str
    bic: str


@dataclass(frozen=True)
class Transfer:
    end_to_end_id: str
    amount: str  # "200.000"
    creditor_name: str
    creditor_iban: str
    remittance: str


def pain001(
    message_id: str,
    created_at: datetime,
    execution_date: str,
    debtor: Debtor,
    transfers: list[Transfer],
    total: str,
) -> bytes:
    """One pain.001.001.03 message with one payment information block (TND)."""
    ns = f"{{{PAIN}}}"

    def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
        el = etree.SubElement(parent, ns + tag)
        if text is not None:
            el.text = text
        return el

    root = etree.Element(ns + "Document", nsmap={None: PAIN})  # type: ignore[dict-item]
    init = sub(root, "CstmrCdtTrfInitn")
    hdr = sub(init, "GrpHdr")
    sub(hdr, "MsgId", message_id)
    sub(hdr, "CreDtTm", created_at.strftime("%Y-%m-%dT%H:%M:%S"))
    sub(hdr, "NbOfTxs", str(len(transfers)))
    sub(hdr, "CtrlSum", total)
    sub(sub(hdr, "InitgPty"), "Nm", debtor.name[:140])
    info = sub(init, "PmtInf")
    sub(info, "PmtInfId", message_id)
    sub(info, "PmtMtd", "TRF")
    sub(info, "BtchBookg", "false")
    sub(info, "NbOfTxs", str(len(transfers)))
    sub(info, "CtrlSum", total)
    sub(info, "ReqdExctnDt", execution_date)
    sub(sub(info, "Dbtr"), "Nm", debtor.name[:140])
    sub(sub(sub(info, "DbtrAcct"), "Id"), "IBAN", debtor.iban)
    sub(sub(sub(info, "DbtrAgt"), "FinInstnId"), "BIC", debtor.bic)
    sub(info, "ChrgBr", "SLEV")
    for t in transfers:
        tx = sub(info, "CdtTrfTxInf")
        pmt = sub(tx, "PmtId")
        sub(pmt, "InstrId", t.end_to_end_id)
        sub(pmt, "EndToEndId", t.end_to_end_id)
        sub(sub(tx, "Amt"), "InstdAmt", t.amount).set("Ccy", "TND")
        sub(sub(tx, "Cdtr"), "Nm", (t.creditor_name or "-")[:140])
        sub(sub(sub(tx, "CdtrAcct"), "Id"), "IBAN", t.creditor_iban)
        sub(sub(tx, "RmtInf"), "Ustrd", t.remittance[:140])
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data


@dataclass(frozen=True)
class Result:
    """One transfer's outcome as the bank reports it."""

    end_to_end_id: str
    paid: bool
    reason: str = ""
    bank_ref: str = ""
    amount: str = ""


def read_camt054(data: bytes) -> list[Result]:
    """Validate a camt.054.001.02 notification; one result per transaction detail.

    A booked (``Sts`` = ``BOOK``) transaction without return information is paid; one with
    ``RtrInf`` was rejected or returned, its reason is ``Rsn/Cd`` (e.g. ``AC01`` wrong account,
    ``AC04`` closed account) plus ``AddtlInf``. Pending entries are skipped."""
    tree = validate(data, "camt.054.001.02.xsd")
    ns = {"c": CAMT}
    results: list[Result] = []
    for entry in tree.iterfind(".//c:Ntfctn/c:Ntry", ns):
        status = entry.findtext("c:Sts", default="", namespaces=ns)
        entry_ref = entry.findtext("c:AcctSvcrRef", default="", namespaces=ns)
        entry_amount = entry.findtext("c:Amt", default="", namespaces=ns)
        for tx in entry.iterfind("c:NtryDtls/c:TxDtls", ns):
            e2e = tx.findtext("c:Refs/c:EndToEndId", default="", namespaces=ns)
            if not e2e:
                continue
            ref = tx.findtext("c:Refs/c:AcctSvcrRef", default="", namespaces=ns) or entry_ref
            amount = (
                tx.findtext("c:AmtDtls/c:TxAmt/c:Amt", default="", namespaces=ns) or entry_amount
            )
            ret = tx.find("c:RtrInf", ns)
            if ret is not None:
                code = ret.findtext("c:Rsn/c:Cd", default="", namespaces=ns) or ret.findtext(
                    "c:Rsn/c:Prtry", default="", namespaces=ns
                )
                extra = " ".join(
                    t.text or "" for t in ret.iterfind("c:AddtlInf", ns) if t.text
                ).strip()
                reason = f"{code}: {extra}" if extra else code or "returned"
                results.append(Result(e2e, False, reason, ref, amount))
            elif status == "BOOK":
                results.append(Result(e2e, True, "", ref, amount))
    return results


def camt054(
    message_id: str, created_at: datetime, account_iban: str, results: list[Result]
) -> bytes:
    """Write a camt.054.001.02 notification (the development bank's answer; tests)."""
    ns = f"{{{CAMT}}}"

    def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
        el = etree.SubElement(parent, ns + tag)
        if text is not None:
            el.text = text
        return el

    stamp = created_at.strftime("%Y-%m-%dT%H:%M:%S")
    root = etree.Element(ns + "Document", nsmap={None: CAMT})  # type: ignore[dict-item]
    body = sub(root, "BkToCstmrDbtCdtNtfctn")
    hdr = sub(body, "GrpHdr")
    sub(hdr, "MsgId", message_id)
    sub(hdr, "CreDtTm", stamp)
    note = sub(body, "Ntfctn")
    sub(note, "Id", message_id)
    sub(note, "CreDtTm", stamp)
    sub(sub(sub(note, "Acct"), "Id"), "IBAN", account_iban)
    for n, r in enumerate(results, 1):
        entry = sub(note, "Ntry")
        sub(entry, "Amt", r.amount).set("Ccy", "TND")
        sub(entry, "CdtDbtInd", "DBIT")
        sub(entry, "Sts", "BOOK")
        sub(sub(entry, "BookgDt"), "Dt", created_at.date().isoformat())
        sub(entry, "AcctSvcrRef", r.bank_ref or f"{message_id}-{n}")
        sub(sub(sub(entry, "BkTxCd"), "Prtry"), "Cd", "RJCT" if not r.paid else "TRF")
        tx = sub(sub(entry, "NtryDtls"), "TxDtls")
        refs = sub(tx, "Refs")
        sub(refs, "AcctSvcrRef", r.bank_ref or f"{message_id}-{n}")
        sub(refs, "EndToEndId", r.end_to_end_id)
        if not r.paid:
            ret = sub(tx, "RtrInf")
            code, _, extra = r.reason.partition(":")
            sub(sub(ret, "Rsn"), "Cd", code.strip()[:4] or "NARR")
            if extra.strip():
                sub(ret, "AddtlInf", extra.strip()[:105])
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data
