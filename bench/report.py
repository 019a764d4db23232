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
