"""The daemon: the single place where asyncio meets the synchronous runner.

``Daemon`` reads a manifest and runs its robots: schedules fire, websocket feeds
stream records in, new records fire triggers from the store's outbox, and every
run goes to the worker pool, one at a time per robot, and into the run history.
The share API is served from the same event loop. SIGINT/SIGTERM stop it
gracefully; SIGHUP (or ``--watch``) reloads the manifest, keeping the feeds of
robots that did not change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime import envelopes
from runtime import manifest as manifests
from runtime.exceptions import StoreError
from runtime.manifest import Manifest, RobotSpec
from runtime.records import canonical_json
from runtime.store.base import Principal, WriteRequest, new_record
from runtime.store.runs import PendingTrigger, RunRecord, cut_log
from runtime.store.sqlite import SqliteStore
from runtime.triggers.cron import missed, next_fire
from runtime.triggers.websocket import FeedClient
from runtime.workers import RunJob, RunOutcome, WorkerConfig, WorkerPool
from runtime.writer import GroupWriter

log = logging.getLogger("robot.daemon")
DEFAULT_DB = Path("robot-data") / "lake.sqlite3"
TRIGGER_POLL_S = 0.5
STATUS_EVERY_S = 1.0
GRACE_S = 30.0


def _now() -> float:
    return time.time()


@dataclass
class RobotState:
    """One robot's life in the daemon."""

    spec: RobotSpec
    principal: Principal
    running: bool = False
    queued: list[tuple[str, str, float | None, int, int | None]] = field(default_factory=list)
    next_fire: float | None = None
    last_fire: float | None = None
    last_run: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = None
    feed: FeedClient | None = None


class Daemon:
    """Runs a manifest's robots until stopped.

    Args:
        manifest_path: the manifest file or folder.
        workers: worker processes for robot runs.
        db: the store file when the manifest names none.
    """

    def __init__(self, manifest_path: Path, *, workers: int = 2, db: Path | None = None,
                 serve_api: bool = True) -> None:
        self._path = manifest_path
        self.manifest = manifests.load(manifest_path)
        self._db = self.manifest.store_path or db or DEFAULT_DB
        self.store = SqliteStore(self._db)
        self._workers = workers
        self._serve_api = serve_api
        self.robots: dict[str, RobotState] = {}
        self._stopping = asyncio.Event()
        self._wake_triggers = asyncio.Event()
        self._in_flight: set[int] = set()
        self._runs: set[asyncio.Task[None]] = set()
        self._pool: WorkerPool | None = None
        self._writer: GroupWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._api_server: Any = None
        # Run history and fire times are written on one thread of their own, in order:
        # a write can wait for a worker's transaction, and the event loop must not.
        self._books = concurrent.futures.ThreadPoolExecutor(1, "run-history")
        self._unsaved_fires: dict[str, float] = {}
        self._fires_lock = threading.Lock()

    # --- life ------------------------------------------------------------------------------

    async def run(self, *, watch: bool = False,
                  ready: Callable[[Daemon], None] | None = None) -> None:
        """Run until SIGINT/SIGTERM (or :meth:`stop`); then let runs finish and commit."""
        self._loop = asyncio.get_running_loop()
        self._writer = GroupWriter(self.store)
        self._configure(self.manifest)
        for sig, act in ((signal.SIGINT, self.stop), (signal.SIGTERM, self.stop),
                         (signal.SIGHUP, self.reload)):
            self._loop.add_signal_handler(sig, act)
        background = [asyncio.create_task(self._dispatch_triggers()),
                      asyncio.create_task(self._write_status())]
        if watch:
            background.append(asyncio.create_task(self._watch()))
        api = asyncio.create_task(self._serve()) if self._serve_api else None
        loop = self._loop

        def wake(_: object) -> None:  # called on the committing thread
            loop.call_soon_threadsafe(self._wake_triggers.set)

        self._unsubscribe = self.store.events.subscribe(wake)
        if ready is not None:
            ready(self)
        await self._stopping.wait()
        await self._shutdown(background, api)

    def stop(self) -> None:
        """Stop triggering; in-flight runs get :data:`GRACE_S` to finish."""
        self._stopping.set()

    def reload(self) -> None:
        """Read the manifest again; robots that did not change keep running as they are."""
        try:
            fresh = manifests.load(self._path)
        except manifests.ManifestError as exc:
            log.error("reload refused, the running manifest stays:\n%s", exc)
            return
        self._configure(fresh)
        self.manifest = fresh
        log.info("manifest reloaded: %d robot(s)", len(fresh.robots))

    async def _shutdown(self, background: list[asyncio.Task[Any]],
                        api: asyncio.Task[None] | None) -> None:
        for state in self.robots.values():
            self._cancel(state)
        if api is not None:
            if self._api_server is not None:
                self._api_server.should_exit = True
            await asyncio.wait([api], timeout=GRACE_S)  # answers in flight, then lifespan
        if self._runs:
            await asyncio.wait(self._runs, timeout=GRACE_S)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        self._unsubscribe()
        assert self._writer is not None
        await asyncio.to_thread(self._writer.close)  # everything received is committed
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close)
        await asyncio.to_thread(self._books.shutdown, wait=True)
        self._write_status_now()
        self.store.close()

    # --- configuration -----------------------------------------------------------------

    def _configure(self, manifest: Manifest) -> None:
        for view in manifest.views:
            self.store.put_view(view)
        for token in manifest.tokens:
            self.store.register_token(token.token, token.user, pipe=token.pipe,
                                      scope=token.scope)
        listed = {t.token for t in manifest.tokens}
        wanted = {spec.id: spec for spec in manifest.robots if spec.enabled}
        for robot_id in list(self.robots):
            state = self.robots[robot_id]
            if wanted.get(robot_id) != state.spec:
                self._cancel(state)
                del self.robots[robot_id]
        for robot_id, spec in wanted.items():
            if robot_id in self.robots:
                continue
            if spec.token not in listed:
                try:
                    self.store.authenticate(spec.token)
                except StoreError:
                    log.warning("robot %s: its token is not in the manifest's tokens; "
                                "registered for the local identity", spec.id)
                    self.store.register_token(spec.token, "local")
            state = RobotState(spec, self.store.authenticate(spec.token))
            self.robots[robot_id] = state
            self._start(state)
        self._reconfigure_pool(manifest)

    def _reconfigure_pool(self, manifest: Manifest) -> None:
        routes: dict[str, list[tuple[str, str]]] = {}
        for state in self.robots.values():
            if state.spec.trigger is not None:
                routes.setdefault(state.spec.trigger.rec_type, []).append(
                    (state.spec.id, state.principal.user))
        self.store.set_triggers(routes, manifest.chain_depth)
        config = WorkerConfig(str(self._db), manifest.routes, manifest.network.deny,
                              manifest.network.allow, routes, manifest.chain_depth,
                              manifest.smtp)
        old, self._pool = self._pool, WorkerPool(config, self._workers)
        if old is not None:
            asyncio.get_running_loop().run_in_executor(None, old.close)
        self._wake_triggers.set()

    def _start(self, state: RobotState) -> None:
        spec = state.spec
        if spec.schedule is not None:
            state.task = asyncio.create_task(self._schedule(state))
        elif spec.websocket is not None:
            state.feed = FeedClient(spec.websocket, lambda data: self._on_message(state, data))
            state.task = asyncio.create_task(state.feed.run())

    @staticmethod
    def _cancel(state: RobotState) -> None:
        if state.task is not None:
            state.task.cancel()

    # --- schedules -----------------------------------------------------------------------

    async def _schedule(self, state: RobotState) -> None:
        spec, schedule = state.spec, state.spec.schedule
        assert schedule is not None
        started = _now()
        state.last_fire = self._stored_last_fire(spec.id)
        late = missed(schedule, last=state.last_fire, now=started,
                      grace_s=spec.misfire_grace_s)
        if late is not None:
            self._fire(state, "schedule", late.scheduled)
        while True:
            after = max(_now(), state.last_fire or 0)
            fire_at = next_fire(schedule, after=after, started=started, last=state.last_fire)
            state.next_fire = fire_at
            if fire_at is None:
                return
            await asyncio.sleep(max(0.0, fire_at - _now()))
            self._fire(state, "schedule", fire_at)

    def _fire(self, state: RobotState, kind: str, scheduled: float) -> None:
        state.last_fire = scheduled
        self._remember_last_fire(state.spec.id, scheduled)
        fired = _now()
        text = json.dumps({"event": "schedule", "robot": state.spec.id,
                           "scheduledAt": _iso(scheduled), "firedAt": _iso(fired)})
        if state.running and state.spec.overlap == "skip":
            self._record(state, RunRecord(state.spec.id, kind, "skipped",
                                          int(scheduled * 1000), int(fired * 1000)))
            return
        self._launch(state, kind, text, scheduled, 0, None)

    def _stored_last_fire(self, robot: str) -> float | None:
        with self.store.session() as session:
            value = session.state_get(f"$daemon:{robot}", "lastFire")
        return None if value is None else float(value)

    def _remember_last_fire(self, robot: str, when: float) -> None:
        """Keep the fire time for misfire handling; fires of many robots share one write."""
        with self._fires_lock:
            first = not self._unsaved_fires
            self._unsaved_fires[robot] = when
        if first:
            self._books.submit(self._save_fires)

    def _save_fires(self) -> None:
        with self._fires_lock:
            fires, self._unsaved_fires = self._unsaved_fires, {}
        with self.store.session() as session:
            for robot, when in fires.items():
                session.state_set(f"$daemon:{robot}", "lastFire", when)

    # --- websocket feeds -----------------------------------------------------------------

    def _on_message(self, state: RobotState, data: Any) -> None:
        feed = state.spec.websocket
        assert feed is not None and self._writer is not None
        request = WriteRequest(feed.rec_type, data, (feed.d_type,) if feed.d_type else ())
        if state.spec.script is None:
            self._writer.submit(state.principal, request)
            return
        try:
            record, _ = new_record(state.principal, request, int(_now() * 1000))
        except StoreError as exc:
            log.warning("robot %s: message refused: %s", state.spec.id, exc)
            return
        text = json.dumps(envelopes.records_envelope([record]), ensure_ascii=False)
        self._launch(state, "websocket", text, None, 0, None)

    # --- record-created triggers --------------------------------------------------------

    async def _dispatch_triggers(self) -> None:
        while not self._stopping.is_set():
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel.
                async with asyncio.timeout(TRIGGER_POLL_S):
                    await self._wake_triggers.wait()
            except TimeoutError:
                pass
            self._wake_triggers.clear()
            for pending in await asyncio.to_thread(self.store.pending_triggers):
                if pending.id not in self._in_flight:
                    self._trigger(pending)

    def _trigger(self, pending: PendingTrigger) -> None:
        state = self.robots.get(pending.robot)
        if state is None:
            return  # the robot is gone or disabled; its trigger waits for it
        record = self.store.trigger_record(pending)
        self._in_flight.add(pending.id)
        if record is None:
            gone = RunRecord(pending.robot, "trigger", "skipped", error={
                "name": "RecordGone", "message": f"record {pending.record_seq} was deleted",
                "stack": ""})
            loop = asyncio.get_running_loop()
            self._record(state, gone, trigger_id=pending.id).add_done_callback(
                lambda _: loop.call_soon_threadsafe(self._in_flight.discard, pending.id))
            return
        text = canonical_json(envelopes.records_envelope([record]))
        self._launch(state, "trigger", text, None, pending.depth, pending.id)

    # --- runs --------------------------------------------------------------------------

    def _launch(self, state: RobotState, kind: str, text: str, scheduled: float | None,
                depth: int, trigger_id: int | None) -> None:
        if state.running:
            state.queued.append((kind, text, scheduled, depth, trigger_id))
            return
        state.running = True
        task = asyncio.create_task(self._run(state, kind, text, scheduled, depth, trigger_id))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def _run(self, state: RobotState, kind: str, text: str, scheduled: float | None,
                   depth: int, trigger_id: int | None) -> None:
        spec = state.spec
        fired = _now()
        try:
            outcome = await self._execute(spec, text, depth)
            ended = _now()
            lines, cut = cut_log(outcome.logs)
            # Awaited: a trigger leaves the outbox with its run's record, and only then
            # may the dispatcher see that it is no longer in flight.
            await asyncio.wrap_future(self._record(state, RunRecord(
                spec.id, kind, outcome.status, _ms(scheduled), _ms(fired),
                int((ended - outcome.duration_ms / 1000) * 1000), _ms(ended), outcome.error,
                lines, cut, outcome.writes, outcome.http), trigger_id=trigger_id))
        finally:
            if trigger_id is not None:
                self._in_flight.discard(trigger_id)
            state.running = False
            self._wake_triggers.set()  # the run may have written records that trigger
            if state.queued and not self._stopping.is_set():
                self._launch(state, *state.queued.pop(0))

    async def _execute(self, spec: RobotSpec, text: str, depth: int) -> RunOutcome:
        """The run's outcome; a failure to run at all is an error outcome, never lost."""
        if spec.script is None:
            return _failed("RobotError", f"robot {spec.id} has no script")
        assert self._pool is not None
        job = RunJob(spec.id, str(spec.script), text, spec.token, spec.timeout_s,
                     spec.memory_mb, depth)
        try:
            return await asyncio.wrap_future(self._pool.submit(job))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the pool failed: record it as the run's error
            log.exception("robot %s: could not run", spec.id)
            return _failed(type(exc).__name__, str(exc))

    def _record(self, state: RobotState, run: RunRecord, *, trigger_id: int | None = None
                ) -> concurrent.futures.Future[None]:
        """Keep ``run`` in the history, on the bookkeeping thread."""
        def write() -> None:
            run_id = self.store.record_run(run, retention=state.spec.retention,
                                           trigger_id=trigger_id)
            state.last_run = {"id": run_id, "status": run.status, "endedMs": run.ended_ms}

        return self._books.submit(write)

    # --- status, API, watch ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``robot status`` shows."""
        return {"writtenMs": int(_now() * 1000), "manifest": str(self._path), "robots": [
            {"id": s.spec.id, "trigger": s.spec.kind, "running": s.running,
             "nextFireMs": _ms(s.next_fire), "lastRun": s.last_run,
             "websocket": s.feed.state.to_json() if s.feed else None}
            for s in self.robots.values()]}

    def _write_status_now(self) -> None:
        with self.store.session() as session:
            session.state_set("$daemon", "status", self.status())

    async def _write_status(self) -> None:
        while True:
            await asyncio.to_thread(self._write_status_now)
            await asyncio.sleep(STATUS_EVERY_S)

    async def _serve(self) -> None:
        import uvicorn

        from runtime.api import create_app

        class _Server(uvicorn.Server):
            def install_signal_handlers(self) -> None:  # the daemon owns the signals
                pass

            def capture_signals(self) -> Any:  # uvicorn >= 0.29 names it so
                import contextlib

                return contextlib.nullcontext()

        config = uvicorn.Config(create_app(self.store), host=self.manifest.server_host,
                                port=self.manifest.server_port, log_level="warning")
        self._api_server = _Server(config)
        await self._api_server.serve()

    async def _watch(self) -> None:
        seen = _mtimes(self._path)
        while True:
            await asyncio.sleep(1.0)
            now = _mtimes(self._path)
            if now != seen:
                seen = now
                self.reload()


def _failed(name: str, message: str) -> RunOutcome:
    return RunOutcome("error", 0.0, [], 0, [], {"name": name, "message": message, "stack": ""})


def _mtimes(path: Path) -> dict[Path, int]:
    files = [path] if path.is_file() else sorted(path.glob("*.conf"))
    return {f: f.stat().st_mtime_ns for f in files if f.exists()}


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{int(seconds * 1000) % 1000:03d}Z"


def serve(manifest_path: Path, *, workers: int = 2, db: Path | None = None, watch: bool = False,
          ready: Callable[[Daemon], None] | None = None) -> None:
    """Run the daemon in a fresh event loop until it is stopped."""
    daemon = Daemon(manifest_path, workers=workers, db=db)
    asyncio.run(daemon.run(watch=watch, ready=ready))

