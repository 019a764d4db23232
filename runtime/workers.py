"""Robot runs in worker processes.

A synchronous host call needs the GIL: next to a busy thread (websocket ingest,
the API) a 10 µs call takes about 5 ms. So the daemon runs robots in a pool of
worker processes, each with its own interpreter, its own V8 isolates (kept warm
per robot) and its own store connections; the pool's process boundary also
isolates a robot that brings its process down. A dead worker fails only the runs
it had; the pool is made again.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.httpcalls import Destinations, Route
from runtime.notify import SmtpSettings
from runtime.sandbox.base import Limits

_worker: Any = None  # the worker process's Runner, made by _start_worker


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker process needs to run robots against the store."""

    db_path: str
    routes: tuple[tuple[str, str], ...] = ()
    deny: tuple[str, ...] = Destinations().deny
    allow: tuple[str, ...] = ()
    triggers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    max_depth: int = 8
    smtp: SmtpSettings | None = None
    parent_pid: int = field(default_factory=os.getpid)


@dataclass(frozen=True)
class RunJob:
    """One run for a worker."""

    robot: str
    script: str
    text: str
    auth: str
    timeout_s: float = 30.0
    memory_mb: int = 128
    depth: int = 0


@dataclass(frozen=True)
class RunOutcome:
    """What a worker says of a run."""

    status: str
    duration_ms: float
    logs: list[dict[str, str]]
    writes: int
    http: list[dict[str, Any]]
    error: dict[str, str] | None


def _start_worker(config: WorkerConfig) -> None:
    global _worker
    import signal

    # The daemon decides when workers stop (Ctrl-C reaches the whole process group),
    # and a worker never outlives it, even when it is killed with SIGKILL.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent(config.parent_pid)
    from runtime.runner import Runner
    from runtime.store.sqlite import SqliteStore

    store = SqliteStore(config.db_path)
    store.set_triggers(config.triggers, config.max_depth)
    _worker = Runner(store, routes=[Route(a, b) for a, b in config.routes],
                     destinations=Destinations(config.deny, config.allow), smtp=config.smtp)


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG);
    elsewhere, a thread watches the parent instead."""
    import ctypes
    import os
    import signal
    import sys
    import time

    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _run(job: RunJob) -> RunOutcome:
    from runtime.exceptions import RobotLoadError

    try:
        result = _worker.run(Path(job.script), job.text, job.auth, robot_id=job.robot,
                             limits=Limits(job.timeout_s, job.memory_mb),
                             trigger_depth=job.depth)
    except RobotLoadError as exc:
        return RunOutcome("error", 0.0, [], 0, [], {"name": "RobotLoadError",
                                                     "message": str(exc), "stack": ""})
    body = result.to_json()
    return RunOutcome(body["status"], body["duration_ms"], body["logs"],
                      result.report.write_count, body["http"], body["error"])


class WorkerPool:
    """A bounded pool of worker processes running robots.

    Args:
        config: what each worker starts with.
        workers: how many processes.
    """

    def __init__(self, config: WorkerConfig, workers: int = 2) -> None:
        self._config = config
        self._workers = workers
        self._lock = threading.Lock()
        self._pool = self._make()

    def _make(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            self._workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(self._config,))

    def submit(self, job: RunJob) -> concurrent.futures.Future[RunOutcome]:
        """Queue a run; the future holds its outcome (a dead worker: status error)."""
        result: concurrent.futures.Future[RunOutcome] = concurrent.futures.Future()
        with self._lock:
            pool = self._pool
        try:
            inner = pool.submit(_run, job)
        except BrokenProcessPool:
            self._renew(pool)
            return self.submit(job)
        inner.add_done_callback(lambda done: self._settle(done, result, pool))
        return result

    def _settle(self, done: concurrent.futures.Future[RunOutcome],
                result: concurrent.futures.Future[RunOutcome],
                pool: concurrent.futures.ProcessPoolExecutor) -> None:
        if result.cancelled():  # nobody waits for this run any more
            return
        try:
            result.set_result(done.result())
        except BrokenProcessPool:
            self._renew(pool)
            result.set_result(RunOutcome("error", 0.0, [], 0, [], {
                "name": "WorkerDied", "message": "the worker process running this robot "
                "died; the pool was made again", "stack": ""}))
        except BaseException as exc:  # noqa: BLE001 - even a cancelled run gets an outcome
            result.set_result(RunOutcome("error", 0.0, [], 0, [], {
                "name": type(exc).__name__, "message": str(exc) or "the run was cancelled",
                "stack": ""}))

    def _renew(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = self._make()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Let running runs finish, then stop the workers."""
        with self._lock:
            pool = self._pool
        pool.shutdown(wait=True, cancel_futures=True)
