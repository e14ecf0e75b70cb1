"""What the endpoints depend on: the engine, a read session, a write session, the caller and
the role guards. Every router under ``api/pages/`` and ``api/v1/`` takes these instead of
reaching into ``request.app.state`` itself.

Who commits (docs/web.md, "Transactions"): nothing under ``api/`` but :func:`write_session`.
A request writes through exactly one transaction, opened in one of two places:

- ``WriteSession``: the endpoint writes through the session it is handed and only flushes;
  the dependency commits once, after the endpoint returned without error and before the
  response is sent (``scope="function"``), and rolls back when the endpoint raised;
- an engine use case that takes the ``Aqd`` (``inbox.claim``, ``contract_actions.perform``,
  ``accounts.open_session``, ``signature_requests.ceremony`` …): it runs its command in its
  own ``with aqd.session() as s, s.begin()``, the same function the CLI calls, so one command
  is one transaction whichever boundary started it.

``tests/web/test_transactions.py`` checks both halves: no module under ``api/`` commits or
begins a transaction except this one, and an endpoint that raises after writing leaves nothing
written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.auth import Caller, CallerDep
from engine import Aqd, NotPermitted, analytics
from engine.access.accounts import Principal
from engine.audit import verification_runs as verification
from engine.commands import version_migration as migration
from engine.definitions import drafts as modeller


def get_aqd(request: Request) -> Aqd:
    """The engine this application was built with (``create_app(aqd)``)."""
    aqd: Aqd = request.app.state.aqd
    return aqd


AqdDep = Annotated[Aqd, Depends(get_aqd)]


def read_session(aqd: AqdDep) -> Iterator[Session]:
    """A read-only session, closed as soon as the endpoint returned.

    On SQLite every transaction, a read one too, starts with ``BEGIN IMMEDIATE`` and holds the
    database's single write lock until it ends: an endpoint that also runs an engine use case
    (which opens its own transaction) must not take this dependency; it reads in a short
    ``with aqd.read_session()`` block that closes before or after the command instead."""
    with aqd.read_session() as session:
        yield session


def write_session(aqd: AqdDep) -> Iterator[Session]:
    """One transaction for the endpoint: committed after it returned, rolled back if it raised.

    The only ``commit()`` in ``api/``. The session is closed (and its connection returned)
    before the response is sent, so a commit that fails is the response's error, never a
    success the database does not hold."""
    with aqd.session() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


ReadSession = Annotated[Session, Depends(read_session, scope="function")]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]


# -- role guards (each raises NotPermitted, 403, after the caller was authenticated) -------------


def _guard(check: Callable[[Principal], None]) -> Callable[[Caller], object]:
    async def guard(caller: CallerDep) -> Caller:
        check(caller.principal)
        return caller

    guard.__name__ = f"require_{check.__name__.lstrip('_')}"
    return guard


def _auditor(principal: Principal) -> None:
    if not principal.roles & verification.AUDITORS:
        raise NotPermitted("the anchors are for auditors")


def _analyst(principal: Principal) -> None:
    analytics.require_analyst(principal)


def _baseline_writer(principal: Principal) -> None:
    analytics.require_analyst(principal, write=True)


def _migrator(principal: Principal) -> None:
    migration.require_migrator(principal.roles)


def _office_staff_or_reader(principal: Principal) -> None:
    if not (principal.is_office_staff or principal.reads_everything):
        raise NotPermitted("this page is not part of your role")


def _employer(principal: Principal) -> None:
    if not principal.has("employer"):
        raise NotPermitted("this page is not part of your role")


def _company_checker(principal: Principal) -> None:
    if not (principal.office_id is not None and principal.has("counsellor", "office_head")):
        raise NotPermitted("this page is not part of your role")


def _beneficiary(principal: Principal) -> None:
    if not principal.has("beneficiary"):
        raise NotPermitted("this page is not part of your role")


#: auditors, programme managers and admins (``verification.AUDITORS``)
AuditorDep = Annotated[Caller, Depends(_guard(_auditor))]
#: analysts read the evidence; programme managers and admins import baselines
AnalystDep = Annotated[Caller, Depends(_guard(_analyst))]
BaselineWriterDep = Annotated[Caller, Depends(_guard(_baseline_writer))]
#: programme managers and admins edit and deploy models
EditorDep = Annotated[Caller, Depends(_guard(modeller.require_editor))]
#: programme managers migrate running contracts
MigratorDep = Annotated[Caller, Depends(_guard(_migrator))]
#: the inbox page: office staff, and the roles that read everything
OfficeReaderDep = Annotated[Caller, Depends(_guard(_office_staff_or_reader))]
EmployerDep = Annotated[Caller, Depends(_guard(_employer))]
BeneficiaryDep = Annotated[Caller, Depends(_guard(_beneficiary))]
#: counsellors and office heads, who check the companies of their office
CompanyCheckerDep = Annotated[Caller, Depends(_guard(_company_checker))]


def wake_verifier(request: Request) -> None:
    """Tell this process's verification thread that a run is queued (the embedded broker;
    with a real broker the worker's relay claims it: ``engine.audit.verification_runs``)."""
    verifier: verification.EmbeddedVerifier | None = getattr(request.app.state, "verifier", None)
    if verifier is not None:
        verifier.wake()
