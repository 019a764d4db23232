"""Runs ONE event for ONE robot and says how it went. Synchronous; knows no triggers.

A :class:`Runner` keeps one warm sandbox per robot script and throws it away
after a timeout, out-of-memory, crash or failed load, so the next run of that
robot starts in a fresh isolate. Each run gets its own store session, which is
committed when the run ends, whatever its outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.host import RunHost
from runtime.httpcalls import Destinations, HttpCaller, Route
from runtime.modules import RobotModules
from runtime.notify import Notifier, SmtpSettings
from runtime.report import LogListener, RunReport, RunResult
from runtime.sandbox.base import Job, Limits, RunEvent, Sandbox
from runtime.sandbox.miniracer import MiniRacerSandbox
from runtime.store.base import Store

if TYPE_CHECKING:
    import httpx


class Runner:
    """Runs robots against one store.

    Args:
        store: the data lake robots read and write.
        limits: default per-run limits.
        routes: URL prefixes sent elsewhere (``--route``).
        http_client: the HTTP client robots use (one is made if omitted).
        destinations: the network policy [link-local and cloud metadata refused].
        smtp: where robots' e-mail goes [nowhere: sendEmail answers an error].
    """

    def __init__(self, store: Store, *, limits: Limits | None = None,
                 routes: Sequence[Route] = (), http_client: httpx.Client | None = None,
                 destinations: Destinations | None = None,
                 smtp: SmtpSettings | None = None) -> None:
        self._store = store
        self._limits = limits or Limits()
        self._http = HttpCaller(http_client, routes, destinations)
        self._notifier = Notifier(smtp, self._http)
        self._sandboxes: dict[str, tuple[Sandbox, tuple[int, int, Limits]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def run(self, script: Path, text: str, auth: str, *, dry_run: bool = False,
            on_log: LogListener | None = None, robot_id: str | None = None,
            limits: Limits | None = None, trigger_depth: int = 0) -> RunResult:
        """Run ``main(text, auth)`` of the robot at ``script`` once.

        Args:
            robot_id: whose state and isolate this is [the script's path].
            limits: this robot's limits [the runner's].
            trigger_depth: the chain depth of a triggered run (0 otherwise).

        Raises:
            RobotLoadError: the script cannot be opened.
        """
        modules = RobotModules(script)
        key = robot_id or str(modules.script)
        with self._lock_for(key):
            report = RunReport(on_log=on_log)
            started = time.perf_counter()
            sandbox = self._sandbox_for(key, modules, limits or self._limits)
            with self._store.session() as session:
                session.trigger_depth = trigger_depth
                host = RunHost(robot_id=key, store=self._store, session=session,
                               http=self._http, report=report, dry_run=dry_run,
                               notifier=self._notifier)
                outcome = sandbox.run(Job(RunEvent(text, auth), host))
                if not sandbox.alive:
                    self._discard(key)
            duration_ms = (time.perf_counter() - started) * 1000
        return RunResult(outcome.status, duration_ms, report, outcome.error)

    def close(self) -> None:
        """Stop every sandbox and release the HTTP client."""
        with self._guard:
            cached, self._sandboxes = list(self._sandboxes.values()), {}
        for sandbox, _ in cached:
            sandbox.close()
        self._http.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _sandbox_for(self, key: str, modules: RobotModules, limits: Limits) -> Sandbox:
        """The robot's warm sandbox; a new one when its script or limits changed since."""
        stat = modules.script.stat()
        stamp = (stat.st_mtime_ns, stat.st_size, limits)
        with self._guard:
            cached = self._sandboxes.get(key)
        if cached is not None and cached[1] == stamp:
            return cached[0]
        if cached is not None:
            self._discard(key)
        sandbox = MiniRacerSandbox(modules, limits)
        with self._guard:
            self._sandboxes[key] = (sandbox, stamp)
        return sandbox

    def _discard(self, key: str) -> None:
        with self._guard:
            cached = self._sandboxes.pop(key, None)
        if cached is not None:
            cached[0].close()
