"""Notifications to users, written in the caller's transaction (so they exist exactly when the
command that caused them commits).

The embedded default delivers into the ``notification`` table, which each user reads as their
mailbox (``/me/mailbox``): that is where a signing link or a one-time code shows up on a machine
without e-mail or SMS. Templates exist in French and Arabic; a user gets their own locale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.models import Notification

#: template -> locale -> (subject, body); ``{placeholders}`` are filled from the parameters.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "signature_requested": {
        "fr": (
            "Contrat {contract} : votre signature est demandée",
            "Le contrat {contract} ({programme}) attend votre signature en tant que {party_fr}.\n"
            "Ouvrez ce lien personnel, valable jusqu'au {expires} (usage unique) :\n{link}\n"
            "Empreinte SHA-256 du document : {sha256}",
        ),
        "ar": (
            "العقد {contract}: إمضاؤكم مطلوب",
            "العقد {contract} ({programme}) في انتظار إمضائكم بصفتكم {party_ar}.\n"
            "افتحوا هذا الرابط الشخصي، صالح إلى غاية {expires} (استعمال واحد):\n{link}\n"
            "البصمة SHA-256 للوثيقة: {sha256}",
        ),
    },
    "signature_reminder": {
        "fr": (
            "Rappel : le contrat {contract} attend votre signature",
            "Le contrat {contract} attend toujours votre signature en tant que {party_fr}.\n"
            "Retrouvez-le dans « Mes signatures » : {link}",
        ),
        "ar": (
            "تذكير: العقد {contract} في انتظار إمضائكم",
            "العقد {contract} ما زال في انتظار إمضائكم بصفتكم {party_ar}.\n"
            "تجدونه في «إمضاءاتي»: {link}",
        ),
    },
    "signature_code": {
        "fr": (
            "Code de signature du contrat {contract}",
            "Votre code à usage unique pour signer le contrat {contract} : {code}\n"
            "Il expire dans {minutes} minutes. Ne le communiquez à personne.",
        ),
        "ar": (
            "رمز إمضاء العقد {contract}",
            "رمزكم ذو الاستعمال الواحد لإمضاء العقد {contract}: {code}\n"
            "تنتهي صلاحيته بعد {minutes} دقائق. لا تطلعوا عليه أحدا.",
        ),
    },
    "signature_declined": {
        "fr": (
            "Contrat {contract} : signature refusée par {party_fr}",
            "La signature du contrat {contract} a été refusée ({party_fr}) : {reason}\n"
            "Une tâche de revue vous attend dans la boîte de réception.",
        ),
        "ar": (
            "العقد {contract}: رفض الإمضاء من {party_ar}",
            "تم رفض إمضاء العقد {contract} ({party_ar}): {reason}\n"
            "مهمة مراجعة في انتظاركم في صندوق المهام.",
        ),
    },
    "contract_signed": {
        "fr": (
            "Contrat {contract} signé par toutes les parties",
            "Le contrat {contract} est signé par toutes les parties. "
            "Le document signé est disponible : {link}",
        ),
        "ar": (
            "العقد {contract} ممضى من جميع الأطراف",
            "العقد {contract} ممضى من جميع الأطراف. الوثيقة الممضاة متاحة: {link}",
        ),
    },
}

PARTY_NAMES = {
    "beneficiary": ("bénéficiaire", "المنتفع"),
    "employer": ("employeur", "المؤجر"),
    "office": ("bureau de l'emploi", "مكتب التشغيل"),
}


def render(template: str, locale: str, params: dict[str, Any]) -> tuple[str, str]:
    texts = TEMPLATES[template]
    subject, body = texts.get(locale) or texts["fr"]
    party = str(params.get("party", ""))
    names = PARTY_NAMES.get(party, (party, party))
    values = {"party_fr": names[0], "party_ar": names[1], **params}
    return subject.format(**values), body.format(**values)


def notify(
    session: Session,
    *,
    key: str,
    recipient: str,
    locale: str,
    template: str,
    params: dict[str, Any],
    now: datetime,
    contract_id: int | None = None,
    channel: str = "email",
) -> Notification | None:
    """Queue one message; a second call with the same ``key`` does nothing (returns None)."""
    if session.scalar(select(Notification.id).where(Notification.idempotency_key == key)):
        return None
    subject, body = render(template, locale, params)
    note = Notification(
        idempotency_key=key[:200],
        recipient=recipient,
        channel=channel,
        template=template,
        contract_id=contract_id,
        subject=subject[:300],
        body=body,
        created_at=now,
    )
    session.add(note)
    session.flush()
    return note


def mailbox(session: Session, username: str, limit: int = 50) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Notification)
        .where(Notification.recipient == username)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": n.id,
            "template": n.template,
            "channel": n.channel,
            "subject": n.subject,
            "body": n.body,
            "created_at": n.created_at,
            "read": n.read_at is not None,
        }
        for n in rows
    ]


def mark_read(session: Session, username: str, now: datetime) -> None:
    session.execute(
        update(Notification)
        .where(Notification.recipient == username, Notification.read_at.is_(None))
        .values(read_at=now)
    )
