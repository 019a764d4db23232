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
from runtime.httpcalls import HttpCaller, Route
from runtime.modules import RobotModules
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
    """

    def __init__(self, store: Store, *, limits: Limits | None = None,
                 routes: Sequence[Route] = (), http_client: httpx.Client | None = None) -> None:
        self._store = store
        self._limits = limits or Limits()
        self._http = HttpCaller(http_client, routes)
        self._sandboxes: dict[Path, tuple[Sandbox, tuple[int, int]]] = {}
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def run(self, script: Path, text: str, auth: str, *, dry_run: bool = False,
            on_log: LogListener | None = None) -> RunResult:
        """Run ``main(text, auth)`` of the robot at ``script`` once.

        Raises:
            RobotLoadError: the script cannot be opened.
        """
        modules = RobotModules(script)
        with self._lock_for(modules.script):
            report = RunReport(on_log=on_log)
            started = time.perf_counter()
            sandbox = self._sandbox_for(modules)
            with self._store.session() as session:
                host = RunHost(robot_id=str(modules.script), store=self._store,
                               session=session, http=self._http, report=report,
                               dry_run=dry_run)
                outcome = sandbox.run(Job(RunEvent(text, auth), host))
                if not sandbox.alive:
                    self._discard(modules.script)
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

    def _lock_for(self, script: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(script, threading.Lock())

    def _sandbox_for(self, modules: RobotModules) -> Sandbox:
        """The robot's warm sandbox; a new one when the script file changed since."""
        stat = modules.script.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._guard:
            cached = self._sandboxes.get(modules.script)
        if cached is not None and cached[1] == stamp:
            return cached[0]
        if cached is not None:
            self._discard(modules.script)
        sandbox = MiniRacerSandbox(modules, self._limits)
        with self._guard:
            self._sandboxes[modules.script] = (sandbox, stamp)
        return sandbox

    def _discard(self, script: Path) -> None:
        with self._guard:
            cached = self._sandboxes.pop(script, None)
        if cached is not None:
            cached[0].close()
