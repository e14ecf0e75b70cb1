"""The caller's mailbox and where their notifications go besides it: their e-mail address and
phone (``/api/v1/me/mailbox``, ``/me/contact``; the worker delivers through
``engine.notifications.delivery``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.auth import CallerDep
from api.deps import ReadSession, WriteSession
from api.v1.schemas import AUTHED, IsoDateTime, Out, V1Router, errors
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


@router.get("/me/contact", response_model=Contact)
def my_contact(caller: CallerDep, s: ReadSession) -> dict[str, str]:
    """Where the caller's notifications are sent besides the mailbox."""
    return notifications.contact_of(s, caller.principal.user_id)


@router.put("/me/contact", response_model=Contact, responses=errors(400))
def set_my_contact(body: Contact, caller: CallerDep, s: WriteSession) -> dict[str, str]:
    """Set (or clear, with "") the caller's e-mail address and phone; the phone is stored
    in international form (+216…)."""
    return notifications.set_contact(s, caller.principal.user_id, body.email, body.phone)
