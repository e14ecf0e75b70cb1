"""The caller's mailbox and where their notifications go besides it: their e-mail address and
phone (``/api/v1/me/mailbox``, ``/me/contact``; the worker delivers through
``engine.notifications.delivery``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.auth import CallerDep
from api.deps import AqdDep, ReadSession
from api.v1.schemas import AUTHED, IsoDateTime, Out, V1Router, errors
from engine.notifications import contacts
from engine.notifications import notify as notifications

router = V1Router(tags=["notifications"], responses=AUTHED)


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(default="", max_length=254, description="E-mail address ('' for none)")
    phone: str = Field(
        default="",
        max_length=32,
        description="Mobile phone: 8 Tunisian digits or + and the international number",
    )


class PendingChange(Out):
    """A change of a contact waiting for its codes."""

    id: int = Field(description="send it back as `change` to confirm")
    kind: str = Field(description="email or phone")
    value: str = Field(description="the new address ('' removes the contact)")
    needs_new_code: bool = Field(description="the code sent to the new address is awaited")
    needs_current_code: bool = Field(
        description="the code sent to the account's verified contact is awaited"
    )
    current_to: str = Field(description="where that code went, masked ('' when none)")
    expires_at: IsoDateTime


class ContactDetails(Out):
    """The caller's contacts: signing codes go only to a verified one (or to a contact the
    office recorded in the job-seeker registry)."""

    email: str
    phone: str
    email_verified: bool
    phone_verified: bool
    registry_email: str = Field(description="the registry's address, masked ('' when none)")
    registry_phone: str = Field(description="the registry's phone, masked ('' when none)")
    pending: list[PendingChange]


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    change: int = Field(description="the pending change's id")
    code: str = Field(default="", max_length=12, description="the code sent to the new address")
    current_code: str = Field(
        default="", max_length=12, description="the code sent to the verified contact"
    )


class Message(Out):
    """A notification: its body once it can be shown (a one-time code on its way by e-mail or
    SMS shows none)."""

    id: int
    template: str
    channel: str = Field(description="mailbox, email or sms")
    delivery: str = Field(description="mailbox, pending, sent or failed")
    subject: str
    body: str
    address: str = Field(description="where it was sent ('' for the mailbox)")
    sent_at: IsoDateTime | None
    created_at: IsoDateTime
    read: bool


@router.get("/me/mailbox", response_model=list[Message], responses=errors(400))
def my_mailbox(caller: CallerDep, s: ReadSession) -> list[dict[str, Any]]:
    """The caller's notifications (the embedded default's e-mail and SMS)."""
    return notifications.mailbox(s, caller.principal.username)


@router.get("/me/contact", response_model=ContactDetails)
def my_contact(caller: CallerDep, s: ReadSession) -> dict[str, Any]:
    """Where the caller's notifications are sent besides the mailbox, whether each address is
    verified (only a verified one receives signing codes), and the changes waiting for codes."""
    return contacts.details(s, caller.principal.user_id)


@router.put("/me/contact", response_model=ContactDetails, responses=errors(400, 409, 429))
def set_my_contact(body: Contact, caller: CallerDep, aqd: AqdDep) -> dict[str, Any]:
    """Ask to set (or clear, with "") the caller's e-mail address and phone (stored in
    international form, +216…). A new address is applied once confirmed
    (``POST /me/contact/confirm``) with the code sent to it and, when the account has a verified
    contact, the code sent there; removing an unverified one is immediate. 409
    ``contact_unreachable``: no code can be sent (production mode, no SMS gateway or SMTP
    server for it); 429: too many changes today."""
    values = {"email": body.email, "phone": body.phone}
    return contacts.change(aqd, caller.principal.user_id, values, actor=caller.principal.username)


@router.post("/me/contact/confirm", response_model=ContactDetails, responses=errors(400, 404, 409))
def confirm_my_contact(body: Confirmation, caller: CallerDep, aqd: AqdDep) -> dict[str, Any]:
    """Enter the codes of a change waiting for them (either or both). 422 with ``code`` or
    ``current_code`` for a wrong code (5 wrong codes cancel the change); 409 once it expired or
    was replaced."""
    user_id = caller.principal.user_id
    contacts.confirm(
        aqd,
        user_id,
        body.change,
        code=body.code,
        current_code=body.current_code,
        actor=caller.principal.username,
    )
    with aqd.read_session() as s:
        return contacts.details(s, user_id)
