"""Group commit for the share API: many concurrent writes, one transaction.

Each request hands its record to the writer and waits; one thread takes every
record waiting, writes them in one batch, commits, and only then answers each
request, so an acknowledged write is always a committed one and the store's
write lock is taken once per batch instead of once per request.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from dataclasses import dataclass, field

from runtime.exceptions import StoreError
from runtime.store.base import Principal, Record, Store, WriteRequest

MAX_BATCH = 2000
_STOP = object()


@dataclass
class _Pending:
    principal: Principal
    request: WriteRequest
    future: concurrent.futures.Future[Record] = field(default_factory=concurrent.futures.Future)


class GroupWriter:
    """Writes records for many callers in shared transactions.

    Args:
        store: where records go.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="group-writer", daemon=True)
        self._thread.start()

    def submit(self, principal: Principal, request: WriteRequest
               ) -> concurrent.futures.Future[Record]:
        """Queue one record; the future resolves once it is committed.

        The future fails with the :class:`StoreError` that refused the record.
        """
        pending = _Pending(principal, request)
        self._queue.put(pending)
        return pending.future

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _serve(self) -> None:
        while True:
            batch, stop = self._take()
            if batch:
                self._write(batch)
            if stop:
                return

    def _take(self) -> tuple[list[_Pending], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        assert isinstance(first, _Pending)
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            assert isinstance(item, _Pending)
            batch.append(item)
        return batch, False

    def _write(self, batch: list[_Pending]) -> None:
        results: list[tuple[_Pending, Record | StoreError]] = []
        try:
            with self._store.session() as session:
                for group in _by_principal(batch):
                    outcomes = session.write_many(group[0].principal,
                                                  [p.request for p in group])
                    results.extend(zip(group, outcomes, strict=True))
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear of it
            failure = exc if isinstance(exc, StoreError) else StoreError(str(exc))
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(failure)
            return
        for pending, outcome in results:  # the session closed: everything is committed
            if isinstance(outcome, StoreError):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)


def _by_principal(batch: list[_Pending]) -> list[list[_Pending]]:
    groups: list[list[_Pending]] = []
    for pending in batch:
        if groups and groups[-1][0].principal == pending.principal:
            groups[-1].append(pending)
        else:
            groups.append([pending])
    return groups
