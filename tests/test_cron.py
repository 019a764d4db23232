"""Schedules compute fire times (pure, no clock)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from runtime.manifest import Schedule
from runtime.triggers.cron import missed, next_fire

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=ZoneInfo("UTC")).timestamp()


def test_interval_fires_after_its_delay_then_every_interval() -> None:
    every = Schedule(interval_s=30, delay_s=5)
    first = next_fire(every, after=T0, started=T0, last=None)
    assert first == T0 + 5
    assert next_fire(every, after=first, started=T0, last=first) == T0 + 35


def test_interval_skips_fires_it_slept_through_without_bunching() -> None:
    every = Schedule(interval_s=10)
    assert next_fire(every, after=T0 + 95, started=T0, last=T0 + 10) == T0 + 100


def test_a_lone_delay_fires_once() -> None:
    once = Schedule(delay_s=3)
    assert next_fire(once, after=T0, started=T0, last=None) == T0 + 3
    assert next_fire(once, after=T0 + 3, started=T0, last=T0 + 3) is None


def test_five_field_cron_in_a_time_zone() -> None:
    nightly = Schedule(cron="0 3 * * *", timezone="Europe/Paris")
    fire = next_fire(nightly, after=T0, started=T0, last=None)
    assert fire is not None
    local = datetime.fromtimestamp(fire, ZoneInfo("Europe/Paris"))
    assert (local.day, local.hour, local.minute) == (26, 3, 0)


def test_six_field_cron_has_seconds() -> None:
    often = Schedule(cron="*/5 * * * * 30")
    fire = next_fire(often, after=T0, started=T0, last=None)
    assert fire == T0 + 30


def test_missed_fires_within_the_grace_coalesce_into_one() -> None:
    minutely = Schedule(cron="* * * * *")
    late = missed(minutely, last=T0, now=T0 + 300 + 20, grace_s=60)
    assert late is not None and late.scheduled == T0 + 300


def test_a_fire_missed_longer_ago_than_the_grace_is_dropped() -> None:
    hourly = Schedule(cron="0 * * * *")
    assert missed(hourly, last=T0, now=T0 + 3600 + 120, grace_s=60) is None
    assert missed(hourly, last=None, now=T0 + 3600, grace_s=60) is None
