"""``robot`` commands for robots that run themselves: validate, serve, runs, logs, status."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from runtime import manifest as manifests
from runtime.cli import db_option, open_store, robot
from runtime.exceptions import StoreError


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


@robot.command("serve")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes running robots.")
@click.option("--watch", is_flag=True, help="Reload when a manifest file changes.")
@db_option
def serve(path: Path, workers: int, watch: bool, db: Path | None) -> None:
    """Run the robots of the manifest at PATH, and the share API, until stopped."""
    import logging

    from runtime.scheduler import serve as run_daemon

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        run_daemon(path, workers=workers, db=db or None, watch=watch,
                   ready=lambda d: click.echo(
                       f"serving {len(d.robots)} robot(s); share API on "
                       f"http://{d.manifest.server_host}:{d.manifest.server_port}", err=True))
    except manifests.ManifestError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


@robot.command("runs")
@click.option("--robot", "robot_id", default=None, help="Only this robot's runs.")
@click.option("--status", type=click.Choice(["ok", "error", "timeout", "memory", "skipped"]),
              default=None)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@db_option
def runs(robot_id: str | None, status: str | None, limit: int, as_json: bool,
         db: Path | None) -> None:
    """List recent runs, newest first."""
    with open_store(db) as store:
        found = store.runs(robot=robot_id, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in found]))
        return
    for r in found:
        took = "" if r.ended_ms is None or r.started_ms is None else \
            f" {r.ended_ms - r.started_ms} ms"
        error = f"  {r.error['name']}: {r.error['message']}" if r.error else ""
        click.echo(f"{r.id}  {r.robot}  {r.trigger}  {r.status}{took}  writes {r.writes}{error}")


@robot.command("logs")
@click.argument("run_id", type=int)
@db_option
def logs(run_id: int, db: Path | None) -> None:
    """Print one run's log (and its error)."""
    with open_store(db) as store:
        try:
            found = store.run(run_id)
        except StoreError as exc:
            raise click.BadParameter(str(exc), param_hint="RUN_ID") from exc
    for line in found.log:
        click.echo(f"[{line['level']}] {line['message']}")
    if found.log_cut:
        click.echo("[log cut at 64 KiB]")
    if found.error:
        click.echo(found.error.get("stack") or f"{found.error['name']}: {found.error['message']}",
                   err=True)


@robot.command("status")
@click.option("--json", "as_json", is_flag=True)
@db_option
def status(as_json: bool, db: Path | None) -> None:
    """Each robot of the running (or last) daemon: trigger, next fire, last run, feed."""
    with open_store(db) as store, store.session() as session:
        snapshot = session.state_get("$daemon", "status")
    if snapshot is None:
        click.echo("no daemon has run against this store", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(snapshot))
        return
    age = (time.time() * 1000 - snapshot["writtenMs"]) / 1000
    click.echo(f"{snapshot['manifest']} (status written {age:.0f} s ago)")
    for r in snapshot["robots"]:
        nxt = "" if r["nextFireMs"] is None else \
            " next " + time.strftime("%H:%M:%S", time.localtime(r["nextFireMs"] / 1000))
        last = "" if r["lastRun"] is None else f" last run {r['lastRun']['id']} " \
            f"{r['lastRun']['status']}"
        ws = r["websocket"]
        feed = "" if ws is None else (f" {'connected' if ws['connected'] else 'disconnected'}"
                                      f" messages {ws['messages']} reconnects "
                                      f"{ws['reconnects']}"
                                      + (f" last error {ws['lastError']}" if ws["lastError"]
                                         else ""))
        click.echo(f"{r['id']}  {r['trigger']}{nxt}{last}{feed}")


@robot.command("demo")
@click.option("--seconds", type=click.FloatRange(min=1), default=20, show_default=True,
              help="How long the demo runs before it stops by itself.")
@click.option("--folder", type=click.Path(path_type=Path), default=Path("robot-data/demo"),
              show_default=True, help="Where the demo's manifest, robots and store go.")
def demo(seconds: float, folder: Path) -> None:
    """Run the documented robots against local simulators, then say how to look."""
    from runtime.demo import run as demo_run

    final = demo_run.run(folder, demo_run.bundled_robots(), seconds=seconds,
                         say=lambda line: click.echo(line))
    db = folder / "lake.sqlite3"
    click.echo("\nstored: " + ", ".join(f"{n} of {rt}" for rt, n in final.items()))
    click.echo(f"""
Look at what the robots stored:
  .venv/bin/robot shares io.demo.readings --db {db} --limit 5
  .venv/bin/robot shares io.sage.device.packed --db {db} --latest --json
  .venv/bin/robot runs --db {db} --limit 10
Or through the share API:
  .venv/bin/robot server --db {db} --port 8080 &
  curl -H "Authorization: Bearer {demo_run.TOKEN}" \\
       "http://127.0.0.1:8080/share/io.demo.readings?perPage=5"
""")
