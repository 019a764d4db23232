"""Run history and pending triggers: the values the daemon keeps in the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOG_LIMIT_BYTES = 64 * 1024


@dataclass(frozen=True)
class RunRecord:
    """One run of one robot, as ``robot runs`` and ``robot logs`` show it."""

    robot: str
    trigger: str  # schedule, websocket, trigger, manual
    status: str  # ok, error, timeout, memory, skipped
    scheduled_ms: int | None = None
    fired_ms: int | None = None
    started_ms: int | None = None
    ended_ms: int | None = None
    error: dict[str, str] | None = None
    log: list[dict[str, str]] = field(default_factory=list)
    log_cut: bool = False
    writes: int = 0
    http: list[dict[str, Any]] = field(default_factory=list)
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The run as ``robot runs --json`` prints it."""
        return {"id": self.id, "robot": self.robot, "trigger": self.trigger,
                "status": self.status, "scheduledMs": self.scheduled_ms,
                "firedMs": self.fired_ms, "startedMs": self.started_ms,
                "endedMs": self.ended_ms, "error": self.error, "writes": self.writes,
                "http": self.http, "logCut": self.log_cut}


def cut_log(lines: list[dict[str, str]], limit: int = LOG_LIMIT_BYTES
            ) -> tuple[list[dict[str, str]], bool]:
    """Keep the first log lines that fit in ``limit`` bytes; say whether any were cut."""
    kept: list[dict[str, str]] = []
    size = 0
    for line in lines:
        size += len(line.get("message", "").encode("utf-8")) + 16
        if size > limit:
            return kept, True
        kept.append(line)
    return kept, False


@dataclass(frozen=True)
class PendingTrigger:
    """A record-created trigger stored with its record, not yet run."""

    id: int
    robot: str
    record_seq: int
    rec_type: str
    depth: int
