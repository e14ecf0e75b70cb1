# size: the catalogue of notification templates and who receives each, in one place.
"""Notifications to users, written in the caller's transaction (so they exist exactly when the
command that caused them commits), and the triggers that write them.

A notification row is the message as the user reads it in their mailbox (``/me/mailbox``). A
user without an e-mail address or phone gets it there only: the commit delivers it (``delivery
= "mailbox"``). A user with one also gets an outbox row of kind ``notification.send`` in the same
transaction; after the commit the worker sends it by e-mail or SMS exactly once
(``engine/notifications/delivery.py``) and keeps only a redacted copy (one-time codes and
signing-link tokens masked). Templates exist in French and Arabic; a user gets their own locale.

Triggers: signature requested, reminder and one-time code (``signature_requests``), a task
reassigned to someone (``Aqd.reassign_task``), a task ready in the employer's or beneficiary's
lane (every command, ``tasks_ready``), a payment paid or rejected by the bank
(``engine/payments/reconcile.py``), a company's file checked or refused by its office
(``engine/employers/registration.py``). Each is idempotent by its key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine import forms_bridge
from engine.errors import InvalidInput
from engine.kernel.store import enqueue
from engine.models import Contract, HumanTask, Notification, User

SEND_KIND = "notification.send"
LOCALES = ("fr", "ar")
#: lanes whose tasks are done by the contract's own parties (they are told when one is ready;
#: office staff work from their inbox)
PARTY_LANES = ("employer", "beneficiary")

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
    "task_assigned": {
        "fr": (
            "Contrat {contract} : la tâche « {task_fr} » vous est confiée",
            "{actor} vous a confié la tâche « {task_fr} » du contrat {contract} ({programme}).\n"
            "Motif : {reason}\n"
            "Ouvrez-la : {link}",
        ),
        "ar": (
            "العقد {contract}: أُسندت إليكم مهمة «{task_ar}»",
            "أسند إليكم {actor} مهمة «{task_ar}» في العقد {contract} ({programme}).\n"
            "السبب: {reason}\n"
            "افتحوها: {link}",
        ),
    },
    "task_ready": {
        "fr": (
            "Contrat {contract} : « {task_fr} » attend votre action",
            "Une étape du contrat {contract} ({programme}) attend votre action : « {task_fr} ».\n"
            "Échéance : {due}\n"
            "Ouvrez-la : {link}",
        ),
        "ar": (
            "العقد {contract}: «{task_ar}» في انتظاركم",
            "مرحلة من العقد {contract} ({programme}) في انتظاركم: «{task_ar}».\n"
            "الأجل: {due}\n"
            "افتحوها: {link}",
        ),
    },
    "task_overdue": {
        "fr": (
            "En retard : « {task_fr} » du contrat {contract}",
            "L'étape « {task_fr} » du contrat {contract} ({programme}) devait être faite au "
            "plus tard le {due}. Elle attend toujours ({who_fr}).\n"
            "Ouvrez-la : {link}",
        ),
        "ar": (
            "تأخير: «{task_ar}» في العقد {contract}",
            "كان يجب إنجاز مرحلة «{task_ar}» من العقد {contract} ({programme}) في أجل أقصاه "
            "{due}. وهي ما تزال في الانتظار ({who_ar}).\n"
            "افتحوها: {link}",
        ),
    },
    "payment_paid": {
        "fr": (
            "Contrat {contract} : paiement du mois {month} effectué",
            "Le paiement de {amount} ({kind_fr}) du contrat {contract} pour le mois {month} "
            "({period}) a été exécuté par la banque.\nRéférence bancaire : {bank_ref}",
        ),
        "ar": (
            "العقد {contract}: تم دفع مستحقات الشهر {month}",
            "نفّذ البنك دفع مبلغ {amount} ({kind_ar}) بعنوان العقد {contract} للشهر {month} "
            "({period}).\n"
            "المرجع البنكي: {bank_ref}",
        ),
    },
    "payment_rejected": {
        "fr": (
            "Contrat {contract} : paiement du mois {month} rejeté",
            "La banque a rejeté le paiement de {amount} ({kind_fr}) du contrat {contract} pour le "
            "mois {month} ({period}) : {reason}\n"
            "Votre bureau de l'emploi vérifie le compte bancaire (RIB) et émettra le paiement à "
            "nouveau ; vous pouvez le contacter pour communiquer un RIB correct.",
        ),
        "ar": (
            "العقد {contract}: رفض دفع مستحقات الشهر {month}",
            "رفض البنك دفع مبلغ {amount} ({kind_ar}) بعنوان العقد {contract} للشهر {month} "
            "({period}): {reason}\n"
            "يتثبّت مكتب التشغيل من الحساب البنكي (RIB) ثم يعيد إصدار الدفع؛ يمكنكم الاتصال به "
            "لتقديم معرّف بنكي صحيح.",
        ),
    },
    "contact_code": {
        "fr": (
            "Code de confirmation de {what_fr}",
            "Votre code pour confirmer {what_fr} sur Aqd : {code}\n"
            "Il expire dans {minutes} minutes. Ne le communiquez à personne.",
        ),
        "ar": (
            "رمز تأكيد {what_ar}",
            "رمزكم لتأكيد {what_ar} على منصة عقد: {code}\n"
            "تنتهي صلاحيته بعد {minutes} دقيقة. لا تطلعوا عليه أحدا.",
        ),
    },
    "contact_confirm": {
        "fr": (
            "Aqd : confirmez ce changement de vos coordonnées",
            "Quelqu'un a demandé sur votre compte Aqd de {change_fr}.\n"
            "Si c'est vous, saisissez ce code dans « Mes coordonnées » : {code} "
            "(valable {minutes} minutes).\n"
            "Sinon, ne le communiquez à personne et prévenez votre bureau de l'emploi : "
            "sans ce code, rien ne change.",
        ),
        "ar": (
            "عقد: أكّدوا هذا التغيير في بيانات الاتصال بكم",
            "طلب أحدهم على حسابكم في منصة عقد {change_ar}.\n"
            "إن كنتم أنتم، أدخلوا هذا الرمز في «بيانات الاتصال بي»: {code} "
            "(صالح لمدة {minutes} دقيقة).\n"
            "وإلا فلا تطلعوا عليه أحدا وأعلموا مكتب التشغيل: دون هذا الرمز لا يتغير شيء.",
        ),
    },
    "contact_changed": {
        "fr": (
            "Aqd : vos coordonnées ont changé",
            "Le {date}, votre compte Aqd a été modifié : {change_fr}.\n"
            "Les codes de signature ne viendront plus ici. Si vous n'êtes pas à l'origine de "
            "ce changement, prévenez votre bureau de l'emploi.",
        ),
        "ar": (
            "عقد: تغيّرت بيانات الاتصال بكم",
            "بتاريخ {date} تمّ على حسابكم في منصة عقد {change_ar}.\n"
            "لن تصل رموز الإمضاء إلى هنا بعد الآن. إن لم تكونوا وراء هذا التغيير فأعلموا مكتب "
            "التشغيل.",
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
    "company_checked": {
        "fr": (
            "{company} : votre bureau de l'emploi a vérifié vos documents",
            "Le bureau de l'emploi a vérifié le statut juridique et les attestations fiscale et "
            "CNSS de {company}. Vous pouvez demander des contrats : {link}",
        ),
        "ar": (
            "{company}: تثبّت مكتب التشغيل من وثائقكم",
            "تثبّت مكتب التشغيل من الصفة القانونية وشهادتي الوضعية الجبائية والضمان الاجتماعي "
            "لـ{company}. يمكنكم طلب العقود: {link}",
        ),
    },
    "company_refused": {
        "fr": (
            "{company} : votre bureau de l'emploi a refusé vos documents",
            "Le bureau de l'emploi a refusé les documents de {company} : {reason}\n"
            "Envoyez les bons documents depuis votre espace : {link}",
        ),
        "ar": (
            "{company}: رفض مكتب التشغيل وثائقكم",
            "رفض مكتب التشغيل وثائق {company}: {reason}\n"
            "يمكنكم إرسال الوثائق الصحيحة من فضائكم: {link}",
        ),
    },
}

PARTY_NAMES = {
    "beneficiary": ("bénéficiaire", "المنتفع"),
    "employer": ("employeur", "المؤجر"),
    "office": ("bureau de l'emploi", "مكتب التشغيل"),
}


PAYMENT_KINDS = {
    "stipend": ("allocation", "منحة"),
    "allowance": ("indemnité", "منحة"),
    "reimbursement": ("remboursement à l'employeur", "استرجاع لفائدة المؤجر"),
    "premium": ("prime", "منحة تحفيزية"),
}

#: parameters that must not stay in clear text once a message left by e-mail or SMS
SECRETS: dict[str, tuple[str, ...]] = {
    "signature_requested": ("link",),
    "signature_code": ("code",),
    "contact_code": ("code",),
    "contact_confirm": ("code",),
}
#: which channels a template prefers (the first the user has an address for is used)
CHANNELS: dict[str, tuple[str, ...]] = {"signature_code": ("sms", "email")}
DEFAULT_CHANNELS = ("email", "sms")
MASK = "••••••"
_BABEL = {"fr": "fr_TN", "ar": "ar_TN"}


def _masked(value: Any) -> str:
    """A secret as the redacted copy shows it: a link keeps its address, not its token."""
    text = str(value)
    if "://" in text and "/" in text.split("://", 1)[1]:
        return text.rsplit("/", 1)[0] + "/" + MASK
    return MASK


def render(
    template: str, locale: str, params: dict[str, Any], redact: bool = False
) -> tuple[str, str]:
    """Subject and body in ``locale`` (French if the template lacks it); ``redact`` masks the
    template's secrets (the copy kept after sending)."""
    texts = TEMPLATES[template]
    subject, body = texts.get(locale) or texts["fr"]
    party = str(params.get("party", ""))
    names = PARTY_NAMES.get(party, (party, party))
    kind = str(params.get("kind", ""))
    kinds = PAYMENT_KINDS.get(kind, (kind, kind))
    values = {"party_fr": names[0], "party_ar": names[1], "kind_fr": kinds[0], "kind_ar": kinds[1]}
    values.update(params)
    if isinstance(params.get("amount"), Decimal | int | float):
        values["amount"] = format_currency(
            params["amount"], "TND", locale=_BABEL.get(locale, "fr_TN")
        )
    if redact:
        for name in SECRETS.get(template, ()):
            if name in values:
                values[name] = _masked(values[name])
    return subject.format(**values), body.format(**values)


def channel_for(template: str, email: str | None, phone: str | None) -> str:
    """The channel a message goes by: the template's first choice the user has an address for,
    else the mailbox only."""
    for channel in CHANNELS.get(template, DEFAULT_CHANNELS):
        if (channel == "email" and email) or (channel == "sms" and phone):
            return channel
    return "mailbox"


def code_channel(
    sms_configured: bool, email_configured: bool, email: str | None, phone: str | None
) -> str:
    """How a one-time code can reach its user outside Aqd: ``sms`` when they have a phone and an
    SMS gateway is configured, else ``email`` with an address and an SMTP server, else
    ``mailbox`` (inside Aqd: whoever holds the session reads it, so it is no second factor)."""
    for name in CHANNELS["signature_code"]:
        if name == "sms" and phone and sms_configured:
            return name
        if name == "email" and email and email_configured:
            return name
    return "mailbox"


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
    contact: tuple[str | None, str | None] | None = None,
    channel: str | None = None,
    address: str | None = None,
) -> int | None:
    """Queue one message (in the caller's transaction); returns its id, or None when a message
    with this ``key`` already exists (then nothing is written). ``channel`` is the caller's
    choice when it made one (a signing code: :func:`code_channel`), else the template's.

    ``contact`` is the recipient's (e-mail, phone) when the caller has it (else it is read).
    A recipient with either, on a contract, also gets a ``notification.send`` outbox row: the
    worker sends the message after the commit. ``address`` pins where it goes (a signing code
    to a verified contact, a confirmation code to a contact not yet applied); without it the
    worker reads the recipient's address when it sends."""
    key = key[:200]
    if contact is None:
        found = session.execute(
            select(User.email, User.phone).where(User.username == recipient)
        ).first()
        contact = (found.email, found.phone) if found is not None else (None, None)
    if channel is None:
        channel = channel_for(template, *contact) if contract_id is not None else "mailbox"
    subject, body = render(template, locale, params)
    sending = channel != "mailbox"
    values = {
        "idempotency_key": key,
        "recipient": recipient,
        "channel": channel,
        "template": template,
        "contract_id": contract_id,
        "subject": subject[:300],
        "body": body,
        "created_at": now,
        "delivery": "pending" if sending else "mailbox",
        "body_redacted": render(template, locale, params, redact=True)[1] if sending else None,
        "address": address if sending else None,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    note_id = session.scalar(
        insert(Notification)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Notification.id)
    )
    if note_id is None:  # a concurrent transaction wrote it first
        return None
    if sending:
        enqueue(
            session,
            contract_id=contract_id,
            kind=SEND_KIND,
            key=f"notification:{note_id}",
            payload={"notification": note_id, "template": template, "channel": channel},
            now=now,
        )
    return int(note_id)


# -- triggers -------------------------------------------------------------------------------------


def task_titles(programme: str, form_key: str, fallback: str) -> tuple[str, str]:
    """The task's title in French and Arabic (its form's ``title`` / ``x-title-ar``)."""
    try:
        schema = forms_bridge.schema(programme, form_key)
    except KeyError:  # an unknown form: the BPMN name will do
        schema = {}
    title_fr = str(schema.get("title") or fallback)
    return title_fr, str(schema.get("x-title-ar") or title_fr)


def task_params(
    number: str,
    programme: str,
    form_key: str,
    name: str,
    task_guid: str,
    public_url: str,
    due: datetime | None = None,
) -> dict[str, Any]:
    """What every task notice says: the contract, the task's title in both languages, its due
    date and the link to it."""
    title_fr, title_ar = task_titles(programme, form_key, name)
    return {
        "contract": number,
        "programme": programme.upper(),
        "task_fr": title_fr,
        "task_ar": title_ar,
        "due": due.date().isoformat() if isinstance(due, datetime) else "—",
        "link": _link(public_url, f"/tasks/{task_guid}"),
    }


def _link(public_url: str, path: str) -> str:
    return public_url.rstrip("/") + path


def party_users(
    session: Session, *, employer_id: int | None = None, beneficiary_id: int | None = None
) -> list[User]:
    """The active accounts of an employer or a beneficiary."""
    if employer_id is None and beneficiary_id is None:
        return []
    query = select(User).where(User.active.is_(True))
    if employer_id is not None:
        query = query.where(User.employer_id == employer_id)
    else:
        query = query.where(User.beneficiary_id == beneficiary_id)
    return list(session.scalars(query.order_by(User.id)))


def tasks_ready(
    session: Session,
    contract_id: int,
    number: str,
    tasks: Iterable[dict[str, Any]],
    now: datetime,
    public_url: str,
) -> int:
    """Tell the employer's or beneficiary's accounts that a task of their lane became ready
    (called by every command with the task rows it inserts); returns how many were queued."""
    mine = [t for t in tasks if t.get("lane") in PARTY_LANES]
    if not mine:
        return 0
    accounts: dict[str, list[User]] = {}
    count = 0
    for task in mine:
        lane = task["lane"]
        if lane not in accounts:  # one query per lane: the contract's party and its accounts
            party = Contract.employer_id if lane == "employer" else Contract.beneficiary_id
            column = User.employer_id if lane == "employer" else User.beneficiary_id
            accounts[lane] = list(
                session.scalars(
                    select(User)
                    .join(Contract, party == column)
                    .where(Contract.id == contract_id, User.active.is_(True))
                    .order_by(User.id)
                )
            )
        users = accounts[lane]
        if not users:
            continue
        params = task_params(
            number,
            task["programme"],
            task["form_key"],
            task["name"],
            task["task_guid"],
            public_url,
            task.get("due_at"),
        )
        for user in users:
            if notify(
                session,
                key=f"task_ready:{task['task_guid']}:{user.username}",
                recipient=user.username,
                locale=user.locale,
                template="task_ready",
                params=params,
                now=now,
                contract_id=contract_id,
                contact=(user.email, user.phone),
            ):
                count += 1
    return count


def task_assigned(
    session: Session,
    task_guid: str,
    assignee: str,
    actor: str,
    reason: str,
    seq: int,
    now: datetime,
    public_url: str,
) -> int | None:
    """Tell the user a task was given to them by someone else (an office head's reassign)."""
    if assignee == actor:
        return None
    user = session.scalar(select(User).where(User.username == assignee, User.active.is_(True)))
    found = session.execute(
        select(HumanTask, Contract.number)
        .join(Contract, Contract.id == HumanTask.contract_id)
        .where(HumanTask.task_guid == task_guid)
    ).first()
    if user is None or found is None:
        return None
    task, number = found
    by = session.scalar(select(User.display_name).where(User.username == actor)) or actor
    params = task_params(number, task.programme, task.form_key, task.name, task_guid, public_url)
    return notify(
        session,
        key=f"task_assigned:{task_guid}:{seq}:{assignee}",
        recipient=assignee,
        locale=user.locale,
        template="task_assigned",
        params={**params, "actor": by, "reason": reason or "—"},
        now=now,
        contract_id=task.contract_id,
        contact=(user.email, user.phone),
    )


def payment_settled(session: Session, order: Any, now: datetime) -> int:
    """Tell the payee's accounts that the bank paid or rejected their payment order
    (``order`` is a ``PaymentOrder`` just set ``paid`` or ``rejected``)."""
    if order.payee_kind == "employer":
        users = party_users(session, employer_id=order.payee_id)
    elif order.payee_kind == "beneficiary":
        users = party_users(session, beneficiary_id=order.payee_id)
    else:
        users = []
    paid = order.status == "paid"
    template = "payment_paid" if paid else "payment_rejected"
    count = 0
    for user in users:
        if notify(
            session,
            key=f"{template}:{order.idempotency_key}:{user.username}",
            recipient=user.username,
            locale=user.locale,
            template=template,
            params={
                "contract": order.contract_number,
                "month": order.contract_month,
                "period": order.period,
                "amount": Decimal(order.amount_millimes) / 1000,
                "kind": order.kind,
                "bank_ref": order.bank_ref or "—",
                "reason": order.reject_reason or "—",
            },
            now=now,
            contract_id=order.contract_id,
            contact=(user.email, user.phone),
        ):
            count += 1
    return count


# -- the user's side ------------------------------------------------------------------------------

EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def normalise_phone(value: str) -> str:
    """A Tunisian mobile (8 digits) as ``+216…``; other numbers in E.164 (``+`` and 8-15
    digits)."""
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if re.fullmatch(r"[0-9]{8}", digits):
        digits = "+216" + digits
    if not re.fullmatch(r"\+[0-9]{8,15}", digits):
        raise InvalidInput(
            "the phone number is not valid",
            fields={"phone": "8 digits, or + and the international number"},
        )
    return digits


def mailbox(session: Session, username: str, limit: int = 50) -> list[dict[str, Any]]:
    """The user's messages, newest first. A message on its way by e-mail or SMS shows no body
    (a one-time code must reach the phone or the inbox, not the page of whoever holds the
    session); once sent it shows the redacted copy."""
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
            "delivery": n.delivery,
            "subject": n.subject,
            "body": n.body if n.delivery in ("mailbox", "sent") else "",
            "address": n.address or "",
            "sent_at": n.sent_at,
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
