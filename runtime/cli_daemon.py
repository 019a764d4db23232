"""``robot`` commands for robots that run themselves: validate (and, later, serve). No logic."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runtime import manifest as manifests
from runtime.cli import robot


@robot.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    """Check the manifest at PATH (a .conf file or a folder of them) without running it."""
    try:
        loaded = manifests.load(path)
    except manifests.ManifestError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    kinds: dict[str, int] = {}
    for spec in loaded.robots:
        kinds[spec.kind] = kinds.get(spec.kind, 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "no robots"
    click.echo(f"{path}: valid ({len(loaded.files)} file(s); {summary})")
