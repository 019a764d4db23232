"""The command line: parse options, build objects, call the library. No logic here.

``robot-run`` runs one robot once; ``robot`` is the toolbox (``robot shares``...).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from runtime import envelopes
from runtime.exceptions import RobotLoadError, RobotRuntimeError, StoreError, UsageError
from runtime.httpcalls import Route
from runtime.notify import SmtpSettings
from runtime.report import RunResult
from runtime.runner import Runner
from runtime.sandbox.base import Limits
from runtime.store.base import Query, Store
from runtime.store.sqlite import SqliteStore

DEFAULT_DB = Path("robot-data") / "lake.sqlite3"
EXIT_ROBOT_FAILED = 1
EXIT_USAGE = 2


def default_db() -> Path:
    """The store file: ``$ROBOT_DB``, else ``./robot-data/lake.sqlite3``."""
    return Path(os.environ.get("ROBOT_DB") or DEFAULT_DB)


db_option = click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path),
                         default=None, help="Store file [env ROBOT_DB, else "
                         "./robot-data/lake.sqlite3].")


@contextmanager
def open_store(db: Path | None) -> Iterator[Store]:
    """Open the store, turning its failures into usage errors that name the file."""
    try:
        store = SqliteStore(db or default_db())
    except StoreError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        yield store
    finally:
        store.close()


def read_text_option(text: str | None) -> str:
    """Return ``--text``: as given, ``@FILE`` read from a file, or the manual event."""
    if text is None:
        return json.dumps({"event": "manual"})
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"{path}: {exc}", param_hint="--text") from exc
    return text


def parse_routes(values: tuple[str, ...]) -> list[Route]:
    """Parse every ``--route FROM=TO``."""
    try:
        return [Route.parse(value) for value in values]
    except UsageError as exc:
        raise click.BadParameter(str(exc), param_hint="--route") from exc


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("script", type=click.Path(path_type=Path))
@click.option("--text", default=None, help="The event text given to main, or @FILE.")
@click.option("--auth", default=None, help="The robot's token [a local token of --user].")
@click.option("--user", default="local", show_default=True, help="Identity the run acts as.")
@db_option
@click.option("--dry-run", is_flag=True, help="Report writes but store nothing.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, help="Seconds the run may take.")
@click.option("--memory", type=click.IntRange(min=8), default=128, show_default=True,
              help="Heap megabytes the robot may use.")
@click.option("--route", "routes", multiple=True, metavar="FROM=TO",
              help="Send requests whose URL starts with FROM to TO instead.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, nothing else.")
@click.option("--smtp-host", default=None, help="Mail server for lib.sendEmail.")
@click.option("--smtp-port", type=click.IntRange(1, 65535), default=25, show_default=True)
@click.option("--smtp-user", default=None)
@click.option("--smtp-password", default=None)
@click.option("--smtp-starttls", is_flag=True)
@click.option("--mail-from", default="robots@localhost", show_default=True,
              help="Sender of lib.sendMicroshareEmail.")
def robot_run(script: Path, text: str | None, auth: str | None, user: str, db: Path | None,
              dry_run: bool, timeout: float, memory: int, routes: tuple[str, ...],
              as_json: bool, smtp_host: str | None, smtp_port: int, smtp_user: str | None,
              smtp_password: str | None, smtp_starttls: bool, mail_from: str) -> None:
    """Run SCRIPT's main(text, auth) once and report what it did."""
    event_text = read_text_option(text)
    route_list = parse_routes(routes)
    smtp = None if smtp_host is None else SmtpSettings(
        smtp_host, smtp_port, smtp_user, smtp_password, smtp_starttls, mail_from)
    if not script.is_file():
        raise click.BadParameter(f"{script}: no such robot script", param_hint="SCRIPT")
    with open_store(db) as store:
        token = _run_token(store, auth, user)
        on_log = None if as_json else _print_log
        try:
            with Runner(store, limits=Limits(timeout, memory), routes=route_list,
                        smtp=smtp) as runner:
                result = runner.run(script, event_text, token, dry_run=dry_run, on_log=on_log)
        except RobotLoadError as exc:
            raise click.BadParameter(str(exc), param_hint="SCRIPT") from exc
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        _print_summary(result, dry_run)
    sys.exit(0 if result.ok else EXIT_ROBOT_FAILED)


def _run_token(store: Store, auth: str | None, user: str) -> str:
    if auth is None:
        return store.local_token(user)
    try:
        store.authenticate(auth)
    except RobotRuntimeError:
        store.register_token(auth, user)  # robot-run is a trusted local tool
    return auth


def _print_log(level: str, message: str) -> None:
    prefix = "" if level == "info" else f"[{level}] "
    click.echo(f"{prefix}{message}", err=level in ("warn", "error"))


def _print_summary(result: RunResult, dry_run: bool) -> None:
    click.echo(f"--- {result.status.value} in {result.duration_ms:.1f} ms", err=True)
    if result.error is not None:
        click.echo(result.error.stack or f"{result.error.name}: {result.error.message}",
                   err=True)
    verb = "would write" if dry_run else "wrote"
    for rec_type, count in sorted(result.writes_by_rec_type().items()):
        click.echo(f"{verb} {count} record(s) of {rec_type}", err=True)
    for note in result.report.notifications:
        state = "sent" if note["sent"] else "not sent (dry run)"
        click.echo(f"{note['kind']} {state}: {', '.join(note['args'][:3])}", err=True)
    for call in result.report.http:
        status = call["status"] if call["status"] is not None else "no answer"
        click.echo(f"{call['method']} {call['url']} -> {status} ({call['ms']:.1f} ms)",
                   err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def robot() -> None:
    """Robot Runtime: the data lake and the robots that fill it."""


@robot.command("shares")
@click.argument("rec_type")
@db_option
@click.option("--user", default="local", show_default=True, help="Whose records to show.")
@click.option("--tags", default="", help="Only records carrying all these (T1,T2).")
@click.option("--latest", is_flag=True, help="Only the newest record.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N records.")
@click.option("--json", "as_json", is_flag=True, help="Print the read envelope as JSON.")
def shares(rec_type: str, db: Path | None, user: str, tags: str, latest: bool,
           limit: int | None, as_json: bool) -> None:
    """Print the records of REC_TYPE."""
    tag_list = tuple(t for t in tags.split(",") if t)
    per_page = 1 if latest else (limit or 999)
    with open_store(db) as store:
        principal = store.authenticate(store.local_token(user))
        try:
            with store.session() as session:
                page = session.query(principal, Query(rec_type, tag_list, 1, per_page))
        except StoreError as exc:
            raise click.BadParameter(str(exc), param_hint="REC_TYPE") from exc
    body = envelopes.page_envelope(page)
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False))
        return
    _print_records(body, rec_type)


def _print_records(body: dict[str, Any], rec_type: str) -> None:
    meta = body["meta"]
    click.echo(f"{meta['currentCount']} of {meta['totalCount']} record(s) of {rec_type}")
    for obj in body["objs"]:
        tags = ",".join(obj["tags"])
        data = json.dumps(obj["data"], ensure_ascii=False)
        click.echo(f"{obj['id']}  [{tags}]  {data[:200]}")


def _register_lake_commands() -> None:
    # The data-lake and daemon commands live in their own modules and attach
    # themselves to `robot`.
    from runtime import cli_daemon, cli_lake  # noqa: F401


_register_lake_commands()
