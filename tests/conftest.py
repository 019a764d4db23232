"""Shared fixtures: a real SQLite file, a real runner with real V8 isolates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.report import RunResult
from runtime.runner import Runner
from runtime.sandbox.base import Limits
from runtime.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "lake.sqlite3") as s:
        yield s


@pytest.fixture
def token(store: SqliteStore) -> str:
    return store.local_token("alice@example.com")


@pytest.fixture
def runner(store: SqliteStore) -> Iterator[Runner]:
    with Runner(store, limits=Limits(timeout_s=5, memory_mb=64)) as r:
        yield r


RunJs = Callable[..., RunResult]


@pytest.fixture
def run_js(tmp_path: Path, runner: Runner, token: str) -> RunJs:
    """Write a robot to a file and run it once: run_js(source, text='', name='robot.js')."""

    def run(source: str, text: str = "", name: str = "robot.js", auth: str | None = None,
            **kwargs: object) -> RunResult:
        script = tmp_path / "robots" / name
        script.parent.mkdir(parents=True, exist_ok=True)
        if not script.exists() or script.read_text() != source:
            script.write_text(source)  # an unchanged file keeps its warm isolate
        return runner.run(script, text, token if auth is None else auth, **kwargs)  # type: ignore[arg-type]

    return run


def logs(result: RunResult) -> list[str]:
    """The messages of a run's log, in order."""
    return [line["message"] for line in result.report.logs]
