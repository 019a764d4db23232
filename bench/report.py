"""How every benchmark prints: one line a figure set, with the target it answers."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

Bench = tuple[str, Callable[[Path], dict[str, float]], str]


def run_and_print(benches: Sequence[Bench]) -> None:
    """Run each ``(name, function, target)`` in a scratch folder and print its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, bench, target in benches:
            figures = bench(Path(tmp))
            shown = ", ".join(f"{k}={v:,.3f}" for k, v in figures.items())
            print(f"{name:38} {shown}   [target: {target}]", flush=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(url: str, seconds: float = 30) -> None:
    """Wait for a server of ours to answer ``url/openapi.json``.

    Raises:
        TimeoutError: it did not within ``seconds``.
    """
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return
        except httpx.TransportError as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {seconds:g} s") from exc
            time.sleep(0.1)
