"""When a scheduled robot fires. Pure: computes times, runs nothing.

Times are seconds since the epoch (wall clock), so cron lines mean what they say
in their time zone across restarts.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from croniter import croniter

from runtime.manifest import Schedule


def next_fire(schedule: Schedule, *, after: float, started: float,
              last: float | None) -> float | None:
    """The first fire time strictly after ``after``.

    Args:
        after: the time to look after.
        started: when the schedule began (a delay counts from here).
        last: the schedule's previous fire, if it fired before.

    Returns:
        The time, or None when the schedule never fires again (a lone delay, done).
    """
    if schedule.cron is not None:
        zone = zoneinfo.ZoneInfo(schedule.timezone)
        base = datetime.fromtimestamp(after, zone)
        return float(croniter(schedule.cron, base).get_next(float))
    first = started + (schedule.delay_s or 0.0)
    if schedule.interval_s is None:
        return first if last is None and first > after else None
    if last is None and first > after:
        return first
    anchor = last if last is not None else first
    steps = max(1, int((after - anchor) // schedule.interval_s) + 1)
    return anchor + steps * schedule.interval_s


@dataclass(frozen=True)
class Misfire:
    """A fire missed while the daemon was down, to be run once now."""

    scheduled: float


def missed(schedule: Schedule, *, last: float | None, now: float, grace_s: float
           ) -> Misfire | None:
    """The newest fire missed since ``last``, if it is no older than ``grace_s``.

    Several missed fires coalesce into that one; a schedule that never fired before
    has missed nothing.
    """
    if last is None:
        return None
    latest: float | None = None
    moment = last
    for _ in range(100_000):  # bounded: a long downtime of a frequent schedule
        upcoming = next_fire(schedule, after=moment, started=last, last=moment)
        if upcoming is None or upcoming > now:
            break
        latest = moment = upcoming
    if latest is None or now - latest > grace_s:
        return None
    return Misfire(latest)
