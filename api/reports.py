"""The printable monthly report (PDF) for the steering committee: the engine's month of
analytics, step and programme names from the Arabic and French catalogs, laid out by
``forms.reports`` (French, then Arabic right to left). Used by the analytics page and by
``aqd analytics report``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.i18n import catalog
from engine import analytics
from forms.reports import render_pdf


def label(msgid: str, locale: str) -> str:
    return catalog(locale).get(msgid, msgid)


def monthly_pdf(session: Session, scope: analytics.Scope, month: str, now: datetime) -> bytes:
    """The month's report for ``scope`` (its programme and office; the month replaces its
    dates)."""
    report = analytics.monthly_report(session, scope, month)
    return render_pdf(
        "monthly.html",
        r=report,
        label=label,
        generated_at=now.strftime("%Y-%m-%d %H:%M UTC"),
    )
