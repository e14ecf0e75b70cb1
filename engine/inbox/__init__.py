"""What people see and do in their inbox: tasks (``tasks``), contracts (``contracts``), the
employers' requests awaiting the job seeker's acceptance (``requests``), a contract's terms
(``terms``), uploaded documents (``documents``) and the command line's plain queries
(``queries``). Every read is scoped by ``engine.access.scope``."""

from engine.inbox.contracts import (
    contract_detail,
    contract_row,
    event_row,
    list_contracts,
    offices,
    programmes_open_for_requests,
    start_form_schema,
    task_detail,
)
from engine.inbox.requests import (
    REQUEST_STATUSES,
    beneficiary_requests,
    create_request,
    decide_request,
    employer_requests,
)
from engine.inbox.tasks import (
    PER_PAGE_MAX,
    Assigned,
    InboxFilter,
    Page,
    Sort,
    claim,
    complete,
    inbox,
    inbox_facets,
    office_counsellors,
    reassign,
    task_row,
)
from engine.inbox.terms import contract_terms

__all__ = [
    "PER_PAGE_MAX",
    "REQUEST_STATUSES",
    "Assigned",
    "InboxFilter",
    "Page",
    "Sort",
    "beneficiary_requests",
    "claim",
    "complete",
    "contract_detail",
    "contract_row",
    "contract_terms",
    "create_request",
    "decide_request",
    "employer_requests",
    "event_row",
    "inbox",
    "inbox_facets",
    "list_contracts",
    "office_counsellors",
    "offices",
    "programmes_open_for_requests",
    "reassign",
    "start_form_schema",
    "task_detail",
    "task_row",
]
