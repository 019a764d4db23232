"""A real `robot serve` subprocess: schedules, triggers, feeds, crash recovery, reload."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from typing import Any

from runtime.store.sqlite import SqliteStore
from tests.daemon.conftest import (
    TOKEN,
    Daemon,
    FeedServer,
    send_and_hold,
    send_then_close,
    wait_for,
)

TICK = """var lib = require('./libs/helpers');
function main(text, auth) { var ev = JSON.parse(text);
  lib.write('io.tick', {event: ev.event, robot: ev.robot, at: ev.scheduledAt}, auth, []); }"""
ECHO = """var lib = require('./libs/helpers');
function main(text, auth) { var m = lib.parseMsg(text);
  lib.write(m.recType, {n: m.objs[0].data.n + 1}, auth, []); }"""
COPY = """var lib = require('./libs/helpers');
function main(text, auth) { var m = lib.parseMsg(text);
  for (var t = Date.now(); Date.now() - t < 150;) {}
  lib.write('io.copy', {from: m.objs[0].id}, auth, []); }"""


def test_a_scheduled_robot_runs_on_its_interval_and_every_run_is_recorded(
        daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory('{ id = "ticker", token = "tok-alice", script = "tick.js", '
                            'schedule { interval = 300ms } }', scripts={"tick.js": TICK}).start()
    wait_for(lambda: len(daemon.records("io.tick")) >= 3, what="three ticks")
    assert daemon.stop() == 0
    ticks = daemon.records("io.tick")
    assert {(t.data["event"], t.data["robot"]) for t in ticks} == {("schedule", "ticker")}
    runs = daemon.runs("ticker")
    ran = [r for r in runs if r.status == "ok"]
    assert len(ran) == len(ticks)
    # A fire that finds the robot still running is recorded as skipped (the default).
    assert {r.status for r in runs} <= {"ok", "skipped"}
    assert all(r.fired_ms - r.scheduled_ms < 1000 for r in ran)


def test_trigger_chains_run_and_are_cut_at_the_depth_limit(
        daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory('{ id = "echo", token = "tok-alice", script = "echo.js", '
                            'trigger { recType = "io.chain" } }', "triggers { maxDepth = 3 }",
                            scripts={"echo.js": ECHO}).start()
    daemon.post("io.chain", {"n": 0})
    wait_for(lambda: len(daemon.runs("echo")) >= 3, what="three chained runs")
    time.sleep(1.0)  # a fourth would come now if the cut failed
    assert daemon.stop() == 0
    assert sorted(r.data["n"] for r in daemon.records("io.chain")) == [0, 1, 2, 3]
    assert len(daemon.runs("echo")) == 3


def test_triggers_pending_at_a_kill_9_each_run_once_after_restart(
        daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory('{ id = "copy", token = "tok-alice", script = "copy.js", '
                            'trigger { recType = "io.src" } }', scripts={"copy.js": COPY}).start()
    sources = [daemon.post("io.src", {"k": k})["id"] for k in range(6)]
    wait_for(lambda: len(daemon.runs("copy")) >= 1, what="the first run")
    assert daemon.process is not None
    workers = _children(daemon.process.pid)
    assert workers
    daemon.kill()
    wait_for(lambda: not any(_alive(pid) for pid in workers), what="workers to die with it")
    with SqliteStore(daemon.db) as store:
        assert store.pending_triggers(), "some triggers were still pending at the kill"
    daemon.start()
    wait_for(lambda: not _pending(daemon), what="every pending trigger to run")
    assert daemon.stop() == 0
    ok_runs = [r for r in daemon.runs("copy") if r.status == "ok"]
    assert len(ok_runs) == len(sources)
    assert {r.data["from"] for r in daemon.records("io.copy")} == set(sources)


def _children(pid: int) -> list[int]:
    from pathlib import Path

    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _pending(daemon: Daemon) -> list[Any]:
    with SqliteStore(daemon.db) as store:
        return store.pending_triggers()


def test_websocket_feed_loses_nothing_across_a_forced_disconnect(
        daemon_factory: Callable[..., Daemon]) -> None:
    feed = FeedServer([send_then_close(300), send_and_hold(200, start=300)])
    daemon = daemon_factory(
        f'{{ id = "My_WS_robot", token = "{TOKEN}", recType = "io.sage.device.packed", '
        f'dType = "My_device", uri = "{feed.uri}", authHeader = "Basic My_WS_header" }}').start()
    wait_for(lambda: len(daemon.records("io.sage.device.packed")) == 500, what="500 records")
    assert daemon.stop() == 0
    feed.close()
    records = daemon.records("io.sage.device.packed")
    assert sorted(r.data["n"] for r in records) == list(range(500))
    assert {r.tags for r in records} == {("My_device",)}
    assert feed.connections == 2
    assert feed.headers[0]["Authorization"] == "Basic My_WS_header"
    assert feed.paths[0] == "/feed?Authorization=Basic+My_WS_token"


def test_graceful_stop_commits_everything_received(
        daemon_factory: Callable[..., Daemon]) -> None:
    feed = FeedServer([send_and_hold(2000)])
    daemon = daemon_factory(f'{{ id = "ws", token = "{TOKEN}", recType = "io.burst", '
                            f'uri = "{feed.uri}" }}').start()
    wait_for(lambda: feed.connections == 1, what="the feed to connect")
    time.sleep(0.3)
    assert daemon.stop() == 0
    feed.close()
    assert len(daemon.records("io.burst")) == 2000


def test_reload_keeps_the_connections_of_robots_that_did_not_change(
        daemon_factory: Callable[..., Daemon]) -> None:
    feed = FeedServer([])
    ws_robot = f'{{ id = "ws", token = "{TOKEN}", recType = "io.ws", uri = "{feed.uri}" }}'
    daemon = daemon_factory(ws_robot + '\n{ id = "ticker", token = "tok-alice", '
                            'script = "tick.js", schedule { interval = 1h } }',
                            scripts={"tick.js": TICK}).start()
    wait_for(lambda: feed.connections == 1, what="the feed to connect")
    daemon.write_manifest(ws_robot + '\n{ id = "ticker", token = "tok-alice", '
                          'script = "tick.js", schedule { interval = 200ms } }')
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: len(daemon.records("io.tick")) >= 2, what="the changed schedule")
    assert feed.connections == 1
    assert daemon.stop() == 0
    feed.close()


def test_status_shows_each_robot(daemon_factory: Callable[..., Daemon]) -> None:
    from click.testing import CliRunner

    from runtime.cli import robot

    daemon = daemon_factory('{ id = "ticker", token = "tok-alice", script = "tick.js", '
                            'schedule { interval = 1h, delay = 1h } }',
                            scripts={"tick.js": TICK}).start()
    time.sleep(1.5)
    shown = CliRunner().invoke(robot, ["status", "--json", "--db", str(daemon.db)])
    assert daemon.stop() == 0
    [ticker] = json.loads(shown.stdout)["robots"]
    assert ticker["id"] == "ticker" and ticker["trigger"] == "schedule"
    assert ticker["nextFireMs"] > time.time() * 1000 + 3000


def test_a_fire_missed_while_down_runs_once_within_the_grace(
        daemon_factory: Callable[..., Daemon]) -> None:
    daemon = daemon_factory('{ id = "ticker", token = "tok-alice", script = "tick.js", '
                            'schedule { interval = 10s }, misfireGrace = 60s }',
                            scripts={"tick.js": TICK})
    last = time.time() - 35  # fires were due 25, 15 and 5 seconds ago
    with SqliteStore(daemon.db) as store, store.session() as session:
        session.state_set("$daemon:ticker", "lastFire", last)
    daemon.start()
    wait_for(lambda: len(daemon.records("io.tick")) >= 1, what="the coalesced misfire")
    time.sleep(1.0)
    assert daemon.stop() == 0
    [run] = daemon.runs("ticker")
    assert abs(run.scheduled_ms / 1000 - (last + 30)) < 0.01


def test_a_websocket_robot_with_a_script_runs_main_per_message(
        daemon_factory: Callable[..., Daemon]) -> None:
    feed = FeedServer([send_and_hold(5)])
    per_message = """var lib = require('./libs/helpers');
    function main(text, auth) { var m = lib.parseMsg(text);
      lib.write('io.seen', {n: m.objs[0].data.n, type: m.recType,
                            tags: m.objs[0].tags}, auth, []); }"""
    daemon = daemon_factory(f'{{ id = "ws", token = "{TOKEN}", recType = "io.raw", '
                            f'dType = "dev", uri = "{feed.uri}", script = "seen.js" }}',
                            scripts={"seen.js": per_message}).start()
    wait_for(lambda: len(daemon.records("io.seen")) == 5, what="five runs")
    assert daemon.stop() == 0
    feed.close()
    seen = sorted((r.data["n"], r.data["type"], tuple(r.data["tags"]))
                  for r in daemon.records("io.seen"))
    assert seen == [(n, "io.raw", ("dev",)) for n in range(5)]
    assert daemon.records("io.raw") == []  # with a script, main decides what is stored


def test_overlapping_fires_are_skipped_or_queued_as_the_robot_says(
        daemon_factory: Callable[..., Daemon]) -> None:
    slow = """var lib = require('./libs/helpers');
    function main(text, auth) { for (var t = Date.now(); Date.now() - t < 700;) {}
      lib.write('io.slow', {}, auth, []); }"""
    daemon = daemon_factory(
        '{ id = "skipper", token = "tok-alice", script = "slow.js", '
        'schedule { interval = 200ms } }\n'
        '{ id = "queuer", token = "tok-alice", script = "slow.js", overlap = queue, '
        'schedule { interval = 200ms } }', scripts={"slow.js": slow}).start()
    time.sleep(3)
    assert daemon.stop() == 0
    skipper = {r.status for r in daemon.runs("skipper")}
    queuer = {r.status for r in daemon.runs("queuer")}
    assert skipper == {"ok", "skipped"} and queuer == {"ok"}


def test_watch_reloads_a_changed_manifest_by_itself(
        daemon_factory: Callable[..., Daemon]) -> None:
    quiet = '{ id = "ticker", token = "tok-alice", script = "tick.js", schedule { delay = 1h } }'
    daemon = daemon_factory(quiet, scripts={"tick.js": TICK}).start("--watch")
    time.sleep(1.2)
    daemon.write_manifest(quiet.replace("delay = 1h", "interval = 200ms"))
    wait_for(lambda: len(daemon.records("io.tick")) >= 2, what="the watched change")
    assert daemon.stop() == 0
