"""The record-created event bus: one per store, in process.

Every record made durable (through the API, a robot, a websocket or an upload) is
published once, after its transaction commits, with its owner. Subscribers are
called on the committing thread and must be quick (hand the work to a queue). A
subscriber that raises is logged and skipped: one bad listener never loses a
write or starves the others.

The bus is the seam for a durable outbox: a store that also writes each pending
event into an outbox table in the record's own transaction can replay the outbox
through the same ``publish`` after a crash.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.store.base import Record

RecordListener = Callable[[Sequence["Record"]], None]

log = logging.getLogger(__name__)


class EventBus:
    """Fans committed records out to subscribers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[RecordListener, ...] = ()

    def subscribe(self, listener: RecordListener) -> Callable[[], None]:
        """Call ``listener`` with every batch of committed records.

        Returns:
            A function that ends the subscription.
        """
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def publish(self, records: Sequence[Record]) -> None:
        """Tell every subscriber about ``records`` (already committed)."""
        for listener in self._listeners:
            try:
                listener(records)
            except Exception:  # noqa: BLE001 - one listener never stops the others
                log.exception("record listener %r failed", listener)
