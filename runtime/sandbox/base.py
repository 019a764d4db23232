"""The sandbox interface: one isolated JavaScript engine for one robot.

A sandbox runs events through the robot's ``main(text, auth)``. What the robot may
do outside itself it asks of a :class:`HostCalls` object given with each run; which
modules it may ``require`` it asks of a :class:`ModuleSource` given at creation.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol


class RunStatus(enum.StrEnum):
    """How a run ended."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"


@dataclass(frozen=True)
class Limits:
    """Per-run limits of a sandbox.

    Attributes:
        timeout_s: wall-clock seconds one run may take, host calls included.
        memory_mb: heap megabytes the isolate may use.
    """

    timeout_s: float = 30.0
    memory_mb: int = 128

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout must be above 0 seconds, got {self.timeout_s}")
        if self.memory_mb < 8:
            raise ValueError(f"memory must be at least 8 MB, got {self.memory_mb}")


@dataclass(frozen=True)
class RunEvent:
    """What ``main(text, auth)`` is called with."""

    text: str
    auth: str


@dataclass(frozen=True)
class JsError:
    """A JavaScript error as the robot author sees it."""

    name: str
    message: str
    stack: str = ""

    def to_json(self) -> dict[str, str]:
        """Return the ``{"name", "message", "stack"}`` object of run reports."""
        return {"name": self.name, "message": self.message, "stack": self.stack}


@dataclass(frozen=True)
class Outcome:
    """How one run ended, as the sandbox saw it."""

    status: RunStatus
    error: JsError | None = None


@dataclass(frozen=True)
class ModuleCode:
    """A module the robot may load.

    Attributes:
        id: the module's identity (one instance per isolate per id).
        file: the name shown in stacks and errors.
        dir: the folder shown as ``__dirname``.
        source: the JavaScript text.
        privileged: bundled library code, which gets the host-call object.
    """

    id: str
    file: str
    dir: str
    source: str
    privileged: bool = False


class ModuleSource(Protocol):
    """Finds the robot's entry script and the modules it requires."""

    def entry(self) -> ModuleCode:
        """Return the robot script itself."""
        ...

    def require(self, from_id: str, name: str) -> ModuleCode:
        """Return the module ``name`` as required from module ``from_id``.

        Raises:
            ModuleNotFound: no module of that name may be loaded from there.
        """
        ...


class HostCalls(Protocol):
    """The ``lib.*`` capabilities of one run."""

    def start(self, deadline: float) -> None:
        """Called as the run starts, with its ``time.monotonic()`` deadline."""
        ...

    def handle(self, op: str, args: list[Any]) -> Any:
        """Answer host call ``op``; the answer must be JSON-serialisable.

        Raises:
            HostCallError: the call failed; the robot sees a JavaScript Error.
        """
        ...

    def defer(self, calls: list[tuple[str, list[Any], str | None]]
              ) -> list[Callable[[], Any]]:
        """Perform queued calls now, in order (even past the deadline: they were made in time).

        Each call is ``(op, args, tail)``: ``tail`` is JSON text sent apart from the
        arguments (a record's data), or None.

        Returns:
            For each call, a function that makes its JSON-serialisable answer, called
            only if the robot looks at it.
        """
        ...


@dataclass(frozen=True)
class Job:
    """One run to do: the event and the host capabilities it may use."""

    event: RunEvent
    host: HostCalls


class Sandbox(abc.ABC):
    """One robot's isolated JavaScript engine, reused across that robot's runs."""

    @property
    @abc.abstractmethod
    def alive(self) -> bool:
        """False once the engine was thrown away (timeout, memory, crash, load failure)."""

    @abc.abstractmethod
    def run(self, job: Job) -> Outcome:
        """Run one event through ``main`` and wait for it to end."""

    @abc.abstractmethod
    def run_batch(self, jobs: Iterable[Job]) -> list[Outcome]:
        """Run events back to back; stops early if the engine dies."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop the engine and free it. Idempotent."""

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
