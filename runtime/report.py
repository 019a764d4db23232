"""What one run did: its status, log, writes and HTTP calls (``robot-run --json``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.sandbox.base import JsError, RunStatus

LogListener = Callable[[str, str], None]


@dataclass
class RunReport:
    """Collects what a run does while it runs.

    Args:
        on_log: called with ``(level, message)`` as each log line happens.
    """

    on_log: LogListener | None = None
    logs: list[dict[str, str]] = field(default_factory=list)
    _writes: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    http: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def log(self, level: str, message: str) -> None:
        """Keep one log line and tell the listener."""
        self.logs.append({"level": level, "message": message})
        if self.on_log is not None:
            self.on_log(level, message)

    def wrote(self, record_id: str, rec_type: str, tags: tuple[str, ...]) -> None:
        """Note one record written (or, in a dry run, that would have been)."""
        # Tuples of strings: a run may write many records, and the garbage collector
        # stops looking at these once it has seen them.
        self._writes.append((record_id, rec_type, tags))

    @property
    def writes(self) -> list[dict[str, Any]]:
        """The records written, as ``{"id", "recType", "tags"}``."""
        return [{"id": i, "recType": r, "tags": list(t)} for i, r, t in self._writes]

    @property
    def write_count(self) -> int:
        """How many records were written."""
        return len(self._writes)

    def writes_by_rec_type(self) -> dict[str, int]:
        """Return how many records were written per recType."""
        counts: dict[str, int] = {}
        for _, rec_type, _ in self._writes:
            counts[rec_type] = counts.get(rec_type, 0) + 1
        return counts

    def notified(self, kind: str, args: list[str], *, sent: bool) -> None:
        """Note one notification (``email``, ``sms``, ``websocket``) and its arguments;
        an SMS's auth token is never kept."""
        shown = args[:4] if kind == "sms" else args
        self.notifications.append({"kind": kind, "args": shown, "sent": sent})

    def called(self, method: str, url: str, status: int | None, ms: float) -> None:
        """Note one HTTP call; ``status`` is None when no answer came."""
        self.http.append({"method": method, "url": url, "status": status,
                          "ms": round(ms, 3)})


@dataclass(frozen=True)
class RunResult:
    """How a run ended and what it did."""

    status: RunStatus
    duration_ms: float
    report: RunReport
    error: JsError | None = None

    @property
    def ok(self) -> bool:
        """True when the run ended without error."""
        return self.status is RunStatus.OK

    def to_json(self) -> dict[str, Any]:
        """Return the object ``robot-run --json`` prints."""
        return {
            "status": self.status.value,
            "duration_ms": round(self.duration_ms, 3),
            "logs": self.report.logs,
            "writes": self.report.writes,
            "http": self.report.http,
            "notifications": self.report.notifications,
            "error": None if self.error is None else self.error.to_json(),
        }

    def writes_by_rec_type(self) -> dict[str, int]:
        """Return how many records were written per recType."""
        return self.report.writes_by_rec_type()
