"""Which message ids the UI needs: the literal ``_("…")`` calls in templates and in ``api/``,
plus the ids built at run time (task names, programmes, statuses, event kinds, lanes, form enum
values). ``python -m api.messages`` lists those missing from a catalog; a test keeps both
catalogs complete."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from lxml import etree

from api.i18n import LOCALES, catalog
from engine.inbox import REQUEST_STATUSES
from engine.registry import REGISTRY_FACTS, RULES, record

ROOT = Path(__file__).resolve().parent.parent
_LITERAL = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
_USER_TASK = re.compile(r"<bpmn:(?:userTask|manualTask)\b[^>]*\bid=\"([^\"]+)\"")
STATUSES = (
    "requested", "in_review", "awaiting_signature", "active", "rejected", "expired", "ended",
    "terminated", "suspended", "cancelled", "ready", "completed", "running",
    "ordered", "batched", "sent", "paid", "reissued",
)  # fmt: skip
PAYMENT_KINDS = ("stipend", "allowance", "reimbursement", "premium")
RUN_STATUSES = ("queued", "running", "done", "interrupted")
MIGRATION_STATUSES = (
    "running", "done", "migrated", "refused", "rolled_back", "part_rolled_back",
)  # fmt: skip
DOCUMENT_KINDS = ("proof", "contract", "contract_signed")
PARTIES = ("beneficiary", "employer", "office")
SIGNATURE_STATUSES = (
    "open", "code_sent", "consented", "signed", "declined", "expired", "superseded", "failed",
)  # fmt: skip
CHANNELS = ("email", "sms")
#: how a signature's one-time code reached the signer (the audit history says it)
SIGNATURE_METHODS = ("otp:sms", "otp:email", "otp:mailbox")
#: a company's file (engine/employers/registration.py): its uploads, their status, its
#: registration and the facts its office recorded
COMPANY_DOCUMENTS = ("legal_status", "tax", "cnss")
UPLOAD_STATUSES = ("submitted", "checked", "refused")
REGISTRATIONS = ("pending", "checked", "refused")
FACT_KINDS = ("legal_status", "tax_certificate", "cnss_certificate")
EVENT_KINDS = (
    "contract_started", "task_completed", "task_claimed", "task_released", "task_reassigned",
    "message_received", "timers_fired", "side_effect_recorded",
    "contract_migrated", "contract_migration_rolled_back",
    "signature_requested", "signature_code_sent", "signature_consented", "signature_applied",
    "signature_refused", "signature_declined", "signature_link_reissued", "signature_failed",
    "signatures_closed",
)  # fmt: skip
LANES = ("counsellor", "office_head", "finance", "employer", "beneficiary", "system")
SECTORS = (
    "agroalimentaire", "commerce", "industrie", "informatique", "services", "tourisme", "autre"
)  # fmt: skip
# Engine messages the pages show as they are (the ones a user can cause by normal use).
ENGINE_MESSAGES = (
    "required", "not found", "already taken", "already registered", "8 digits",
    "not registered", "at least 10 characters", "6 to 12 digits",
    "7 digits and a letter, e.g. 1234567A or 1234567A/M/000",
    "3-100 characters: lowercase letters, digits, . _ -",
    "3-60 characters: lowercase letters, digits, . _ -",
    "the registration form has errors", "please sign in",
    "this page is not part of your role", "you cannot complete this task",
    "you cannot take this task", "only the office head reassigns tasks",
    "missing or wrong CSRF token; reload the page and try again",
    "no job seeker with this CIN is registered at an employment office",
    "not a counsellor of this office", "a reason is required",
    "only PDF, PNG or JPEG files are accepted", "PDF, PNG or JPEG only",
    "the file is larger than 5 MB", "larger than 5 MB", "the file is empty", "empty file",
    "the file is damaged or is not the PDF, PNG or JPEG it claims to be",
    "not a readable PDF, PNG or JPEG",
    "the file name contains control or bidirectional formatting characters",
    "invalid characters in the file name",
    "this contract has reached its upload quota", "upload quota of the contract reached",
    "you have too many uploads waiting for their task to be completed",
    "too many pending uploads", "the attached document has expired; upload it again",
    "expired; upload it again", "this form takes no file here",
    "the attached document is not this contract's or has changed", "unknown document",
    "a signing code must reach your phone or e-mail address, and none can be used: set them in "
    "your contact details, or ask the office",
    "no phone or e-mail address the code can be sent to",
    # a query's dates and months (engine/dates.py)
    "not a month between 1900-01 and 2100-12 (YYYY-MM)", "not a valid date (YYYY-MM-DD)",
    "the date must be between 1900-01-01 and 2100-12-31",
    # requests refused before their route (api/app.py)
    "this page does not exist", "this page does not accept this kind of request",
    "the request could not be handled", "the request is too large",
    "the request does not match what this page expects", "the request body could not be read",
    "NUL characters are not allowed in a URL", "invalid value", "contains NUL",
    "too many verification runs are waiting; try again when one has finished",
    # contract requests and the job-seeker registry (engine/registry, engine/inbox/requests.py)
    "a request cannot set a fact of the job-seeker registry", "kept by the job-seeker registry",
    "the request has fields its form does not know", "unknown field", "invalid CIN",
    "the CIN goes with the date of birth", "invalid date",
    "too many job-seeker look-ups; try again later",
    "below the minimum the texts set for this contract",
    "above the maximum the texts set for this contract",
    # a company's check by its office (engine/employers/registration.py)
    "your company can request contracts once its employment office has checked its documents",
    "only a counsellor or office head of the company's office checks it",
    "this company has no uploaded document to check", "no document to check",
    "a company is approved with its legal status and tax and CNSS certificates valid today",
    "missing or expired", "choose approve or refuse", "choose a file", "unknown document kind",
    "unknown", "unknown legal status", "the certificate's reference is required",
    "a certificate cannot end before it starts", "before the first day",
    # contact verification (engine/notifications/contacts.py) and the signing code's refusal
    "no code can be sent to this contact now; ask the office to record it",
    "no code can be sent there",
    "your verified contact cannot receive a code now; ask the office to record the new one",
    "wrong code", "this change is no longer waiting for a code; ask for a new one",
    "the codes have expired; ask for new ones", "too many wrong codes; ask for new ones",
    "too many changes were asked for today; try again tomorrow or ask the office",
    "the contact details have errors", "the e-mail address is not valid",
    "not an e-mail address", "the phone number is not valid",
    "8 digits, or + and the international number",
    "a signing code goes only to a verified phone or e-mail address: confirm yours in your "
    "contact details with the codes sent to it, or ask the office to record it",
    "your phone or e-mail address is not verified yet",
    "this change was just confirmed by another session",
    # counsellors' corrections of the job-seeker registry (engine/registry/record.py)
    record.INVALID, record.UNKNOWN_FACT, record.NOT_ALLOWED, record.YES_OR_NO,
    record.WHOLE_NUMBER, record.UNCHANGED, record.NOT_FOUND, record.NOT_EDITOR,
    "no such proof",
)  # fmt: skip


def literal_ids() -> set[str]:
    found: set[str] = set()
    files = [*(ROOT / "api" / "templates").rglob("*.html"), *(ROOT / "api").rglob("*.py")]
    for path in files:
        if path.name == "messages.py":
            continue
        for m in _LITERAL.finditer(path.read_text(encoding="utf-8")):
            found.add(m.group(1) if m.group(1) is not None else m.group(2))
    # "event:" ~ kind and the like are prefixes of run-time ids, listed in dynamic_ids()
    return {msgid for msgid in found if not re.fullmatch(r"[a-z_]+:", msgid)}


#: the employer's legal statuses (engine/employers), as its record and the refusals name them
LEGAL_STATUSES = (
    "PRIVATE_FIRM", "LIBERAL_PROFESSION", "ASSOCIATION", "PUBLIC_ADMINISTRATION",
    "PUBLIC_ESTABLISHMENT_COMMERCIAL", "PUBLIC_TRAINING_ESTABLISHMENT", "UNKNOWN",
)  # fmt: skip
_DMN = "{https://www.omg.org/spec/DMN/20191111/MODEL/}"


def reason_codes() -> set[str]:
    """Every reason code a decision table of ``processes/`` can output (the outputs named
    ``reason`` or ``*_reason``): each is shown as ``reason:CODE`` in both languages."""
    codes: set[str] = set()
    for path in sorted((ROOT / "processes").glob("*/*.dmn")):
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
        for table in root.iter(f"{_DMN}decisionTable"):
            outputs = [o.get("name", "") for o in table.iter(f"{_DMN}output")]
            columns = [i for i, name in enumerate(outputs) if name.endswith("reason")]
            for rule in table.iter(f"{_DMN}rule"):
                entries = [e.findtext(f"{_DMN}text") or "" for e in rule.iter(f"{_DMN}outputEntry")]
                codes |= {entries[i].strip().strip('"') for i in columns if i < len(entries)}
    return codes


def dynamic_ids() -> set[str]:
    found: set[str] = set(STATUSES) | set(SECTORS) | set(ENGINE_MESSAGES)
    found |= {f"event:{k}" for k in EVENT_KINDS} | {f"lane:{lane}" for lane in LANES}
    found |= {f"payment:{k}" for k in PAYMENT_KINDS} | {f"run:{s}" for s in RUN_STATUSES}
    found |= {f"document:{k}" for k in DOCUMENT_KINDS}
    found |= {f"migration:{s}" for s in MIGRATION_STATUSES}
    found |= {f"party:{p}" for p in PARTIES} | {f"channel:{c}" for c in CHANNELS}
    found |= {f"signature:{s}" for s in SIGNATURE_STATUSES}
    found |= {f"method:{m}" for m in SIGNATURE_METHODS}
    found |= {f"reason:{code}" for code in reason_codes()}
    found |= {f"reason:{rule.code}" for rule in RULES} | set(REQUEST_STATUSES)
    found |= {f"fact:{name}" for name in (*REGISTRY_FACTS, *record.EDITABLE)}
    found |= {f"legal_status:{status}" for status in LEGAL_STATUSES}
    found |= {f"company_document:{k}" for k in COMPANY_DOCUMENTS}
    found |= {f"upload:{s}" for s in UPLOAD_STATUSES} | {f"fact:{k}" for k in FACT_KINDS}
    found |= {f"registration:{r}" for r in REGISTRATIONS}
    for programme in (ROOT / "processes").iterdir():
        if not (programme / "programme.json").is_file():
            continue
        found.add(programme.name)
        for bpmn in programme.glob("*.bpmn"):
            found |= set(_USER_TASK.findall(bpmn.read_text(encoding="utf-8")))
    for schema in (ROOT / "forms" / "schemas").rglob("*.schema.json"):
        doc = json.loads(schema.read_text(encoding="utf-8"))
        for spec in doc.get("properties", {}).values():
            found |= {str(v) for v in spec.get("enum", []) if v is not None}
    return found


def missing(locale: str) -> list[str]:
    known = catalog(locale)
    return sorted((literal_ids() | dynamic_ids()) - set(known))


def main() -> int:
    status = 0
    for locale in LOCALES:
        gaps = missing(locale)
        for msgid in gaps:
            print(f"{locale}: {msgid}")  # noqa: T201
        status |= bool(gaps)
    return status


if __name__ == "__main__":
    sys.exit(main())
