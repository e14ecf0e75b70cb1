"""What people see and do in their inbox: tasks (``tasks``), contracts and contract requests
(``contracts``), a contract's terms (``terms``), uploaded documents (``documents``) and the
command line's plain queries (``queries``). Every read is scoped by ``engine.access.scope``."""

from engine.inbox.contracts import (
    contract_detail,
    contract_row,
    event_row,
    list_contracts,
    offices,
    programmes_open_for_requests,
    request_contract,
    start_form_schema,
    task_detail,
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
    "Assigned",
    "InboxFilter",
    "Page",
    "Sort",
    "claim",
    "complete",
    "contract_detail",
    "contract_row",
    "contract_terms",
    "event_row",
    "inbox",
    "inbox_facets",
    "list_contracts",
    "office_counsellors",
    "offices",
    "programmes_open_for_requests",
    "reassign",
    "request_contract",
    "start_form_schema",
    "task_detail",
    "task_row",
]
