"""A real `robot serve` in a subprocess, and a real websocket feed on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.store.sqlite import SqliteStore

BIN = Path(sys.executable).parent
TOKEN = "tok-alice"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Daemon:
    """`robot serve` on a manifest in a folder, its API on a free port."""

    def __init__(self, folder: Path, robots: str, extra: str = "") -> None:
        self.folder = folder
        self.port = free_port()
        self.db = folder / "lake.sqlite3"
        self.manifest = folder / "robots.conf"
        self.write_manifest(robots, extra)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def write_manifest(self, robots: str, extra: str = "") -> None:
        self.manifest.write_text(
            f'store {{ path = "lake.sqlite3" }}\nserver {{ port = {self.port} }}\n'
            f'tokens = [ {{ token = "{TOKEN}", user = "alice" }} ]\n{extra}\n'
            f"robots = [\n{robots}\n]\n")

    def start(self, *extra: str) -> Daemon:
        self.close_log()
        self._log = open(self.folder / "log", "ab")  # noqa: SIM115 - closed by close_log
        self.process = subprocess.Popen(
            [str(BIN / "robot"), "serve", str(self.manifest), "--workers", "2", *extra],
            cwd=self.folder, stdout=subprocess.DEVNULL, stderr=self._log)
        wait_for(self._answers, what="the daemon's API")
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError((self.folder / "log").read_text())
        try:
            return httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, rec_type: str, data: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}/share/{rec_type}", json=data,
                            headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 201, answer.text
        return answer.json()["objs"][0]  # type: ignore[no-any-return]

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self.close_log()
        return code

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.close_log()

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def runs(self, robot: str | None = None) -> list[Any]:
        with SqliteStore(self.db) as store:
            return store.runs(robot=robot, limit=100_000)

    def records(self, rec_type: str) -> list[Any]:
        from runtime.store.base import Query

        with SqliteStore(self.db) as store:
            principal = store.authenticate(TOKEN)
            with store.session() as session:
                return list(session.query(principal, Query(rec_type, per_page=100_000)).records)


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(robots: str, extra: str = "", scripts: dict[str, str] | None = None) -> Daemon:
        for name, source in (scripts or {}).items():
            (tmp_path / name).write_text(source)
        daemon = Daemon(tmp_path, robots, extra)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        if daemon.process is not None and daemon.process.poll() is None:
            daemon.kill()


class FeedServer:
    """A websocket server on 127.0.0.1 that plays a script of messages per connection."""

    def __init__(self, plays: list[Callable[[Any], None]]) -> None:
        from websockets.sync.server import serve

        self.connections = 0
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self._plays = plays
        self.port = free_port()
        self._server = serve(self._handle, "127.0.0.1", self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, connection: Any) -> None:
        index = self.connections
        self.connections += 1
        self.headers.append({"Authorization": connection.request.headers.get("Authorization")})
        self.paths.append(connection.request.path)
        if index < len(self._plays):
            self._plays[index](connection)
        else:
            hold(connection)

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}/feed?Authorization=Basic+My_WS_token"

    def close(self) -> None:
        self._server.shutdown()


def hold(connection: Any) -> None:
    """Keep the connection open until the client leaves."""
    try:
        for _ in connection:
            pass
    except Exception:  # noqa: BLE001 - the client went away; that is the end of it
        pass


def send_then_close(count: int, start: int = 0) -> Callable[[Any], None]:
    """Send ``count`` JSON messages, then drop the connection (a forced disconnect)."""
    def play(connection: Any) -> None:
        for n in range(start, start + count):
            connection.send(json.dumps({"n": n}))
        connection.socket.close()
    return play


def send_and_hold(count: int, start: int = 0) -> Callable[[Any], None]:
    """Send ``count`` JSON messages, then keep the connection open."""
    def play(connection: Any) -> None:
        for n in range(start, start + count):
            connection.send(json.dumps({"n": n}))
        hold(connection)
    return play
