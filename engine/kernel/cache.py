"""Hot workflows per process, keyed by instance and validated by the contract's ``revision``
under the row lock (DESIGN.md invariant 8): a command takes a workflow out, and puts it back only
after its transaction committed (``after_commit``), so a rolled-back command leaves nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    pass


class WorkflowCache:
    """Hot workflows per process: instance id -> (instance revision, workflow)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: int, revision: int) -> Any | None:
        with self._lock:
            item = self._items.pop(instance_id, None)
        if item is None or item[0] != revision:
            return None
        return item[1]

    def put(self, instance_id: int, revision: int, wf: Any) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[instance_id] = (revision, wf)
            self._items.move_to_end(instance_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@event.listens_for(Session, "after_commit")
def _publish_cache(session: Session) -> None:
    for cache, instance_id, revision, wf in session.info.pop("aqd_cache_puts", []):
        cache.put(instance_id, revision, wf)


@event.listens_for(Session, "after_rollback")
def _drop_cache(session: Session) -> None:
    session.info.pop("aqd_cache_puts", None)
