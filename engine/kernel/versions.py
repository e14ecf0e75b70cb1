"""Which deployed version of a programme is in force on a day.

A version applies from its own date (``applies_from``: "contracts requested from 2025-06-01"),
separate from the day it was deployed. On a day, the version in force is the one with the
latest ``applies_from`` on or before it (the higher version number between two that apply
from the same day). Before the first version applies, that first version answers: its
parameters are dated, and they say what the texts set on each earlier day (a parameter with
no value on a day makes a decision that reads it answer "no rule in force", see
``engine.definitions.deploy``). docs/rules.md explains the choice.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.models import ProcessDefinition


def version_in_force(session: Session, programme: str, day: date) -> ProcessDefinition:
    """The active version of ``programme`` whose rules apply to requests made on ``day``."""
    versions = list(
        session.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.programme == programme, ProcessDefinition.status == "active")
            .order_by(ProcessDefinition.applies_from, ProcessDefinition.version)
        )
    )
    if not versions:
        raise NotFound(f"programme {programme!r} has no deployed definition")
    applying = [v for v in versions if v.applies_from <= day]
    return applying[-1] if applying else versions[0]
