"""``robot`` commands for the data lake: server, user, token, share. No logic here."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from runtime import envelopes, upload
from runtime.access import PASSWORD_TOKEN_TTL_MS
from runtime.cli import db_option, open_store, robot
from runtime.exceptions import StoreError
from runtime.records import check_rec_type, check_tags
from runtime.store.base import Principal, Query, Store

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PROGRESS_OVER_BYTES = 256 * 1024


def parse_duration_ms(text: str) -> int | None:
    """``30s``, ``15m``, ``48h``, ``7d``, ``2w`` in milliseconds; ``never`` is None.

    Raises:
        click.BadParameter: anything else.
    """
    if text.strip().lower() == "never":
        return None
    found = _DURATION.match(text.strip().lower())
    if found is None:
        raise click.BadParameter(f"{text!r}: use a number and s, m, h, d or w (48h), or never",
                                 param_hint="--expires")
    return int(found.group(1)) * _SECONDS[found.group(2)] * 1000


def fail(message: str) -> None:
    """Say what went wrong on stderr and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@robot.command("server")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--max-body", type=click.IntRange(min=1), default=1 << 20, show_default=True,
              help="Largest request body in bytes (413 past it).")
def server(db: Path | None, host: str, port: int, max_body: int) -> None:
    """Serve the share REST API."""
    import uvicorn  # the API's imports cost robot-run nothing unless a server starts

    from runtime.api import create_app

    with open_store(db) as store:
        app = create_app(store, max_body_bytes=max_body)
        uvicorn.run(app, host=host, port=port, log_level="warning")


@robot.group("user")
def user() -> None:
    """Identities."""


@user.command("add")
@click.argument("name")
@db_option
@click.option("--password", default=None, help="Lets NAME get tokens from /oauth2/token.")
def user_add(name: str, db: Path | None, password: str | None) -> None:
    """Create identity NAME (or set its password)."""
    with open_store(db) as store:
        try:
            store.add_identity(name, password)
        except StoreError as exc:
            raise click.BadParameter(str(exc), param_hint="NAME") from exc
    click.echo(f"identity {name} ready", err=True)


@robot.group("token")
def token() -> None:
    """Tokens: create, list, revoke."""


@token.command("create")
@click.option("--user", "user_name", required=True, help="The identity the token acts as.")
@click.option("--pipe", is_flag=True, help="Write-only, never expires.")
@click.option("--scope", default="ALL:ALL", show_default=True)
@click.option("--expires", default=None, help="30m, 48h, 7d, never [48h; pipe: never].")
@db_option
def token_create(user_name: str, pipe: bool, scope: str, expires: str | None,
                 db: Path | None) -> None:
    """Print a new token, alone on stdout, once."""
    ttl = parse_duration_ms(expires) if expires else (None if pipe else PASSWORD_TOKEN_TTL_MS)
    with open_store(db) as store:
        try:
            new = store.create_token(user_name, pipe=pipe, scope=scope,
                                     expires_ms=None if ttl is None else _now_ms() + ttl)
        except StoreError as exc:
            raise click.BadParameter(str(exc), param_hint="--user") from exc
    click.echo(new)


@token.command("list")
@db_option
@click.option("--json", "as_json", is_flag=True)
def token_list(db: Path | None, as_json: bool) -> None:
    """List tokens (never the tokens themselves)."""
    with open_store(db) as store:
        tokens = store.list_tokens()
    if as_json:
        click.echo(json.dumps([t.__dict__ for t in tokens]))
        return
    for t in tokens:
        kind = "pipe" if t.pipe else "token"
        state = "revoked" if t.revoked else (
            "expired" if t.expires_ms is not None and t.expires_ms <= _now_ms() else "active")
        expires = "never" if t.expires_ms is None else _iso(t.expires_ms)
        click.echo(f"{t.id}  {t.user}  {kind}  {t.scope}  {state}  expires {expires}")


@token.command("revoke")
@click.argument("value", metavar="TOKEN")
@db_option
def token_revoke(value: str, db: Path | None) -> None:
    """Make TOKEN unusable."""
    with open_store(db) as store:
        try:
            store.revoke_token(value)
        except StoreError as exc:
            raise click.BadParameter(str(exc), param_hint="TOKEN") from exc
    click.echo("revoked", err=True)


@robot.group("share")
def share() -> None:
    """Records: post, get, delete (as the share API does)."""


identity_options = [
    click.option("--user", "user_name", default=None, help="Act as this identity [local]."),
    click.option("--token", "token_value", default=None, help="Act as this token."),
]


def _with_identity(f: Any) -> Any:
    for option in reversed(identity_options):
        f = option(f)
    return f


def _principal(store: Store, user_name: str | None, token_value: str | None) -> Principal:
    if user_name and token_value:
        raise click.UsageError("give --user or --token, not both")
    try:
        if token_value:
            return store.authenticate(token_value)
        return store.authenticate(store.local_token(user_name or "local"))
    except StoreError as exc:
        raise click.BadParameter(str(exc), param_hint="--token") from exc


@share.command("post")
@click.argument("rec_type")
@click.argument("source", metavar="FILE|-")
@click.option("--tags", default="", help="Tags for every record (T1,T2).")
@click.option("--each", is_flag=True, help="One record per JSON array element, NDJSON line "
              "or CSV row.")
@click.option("--csv", "csv_format", is_flag=True, help="Read CSV (implied by a .csv name).")
@_with_identity
@db_option
def share_post(rec_type: str, source: str, tags: str, each: bool, csv_format: bool,
               user_name: str | None, token_value: str | None, db: Path | None) -> None:
    """Store FILE (or stdin) as one record, or one per element/line/row with --each."""
    try:
        check_rec_type(rec_type)
        tag_list = check_tags([t for t in tags.split(",") if t])
    except StoreError as exc:
        raise click.BadParameter(str(exc)) from exc
    is_csv = csv_format or source.lower().endswith(".csv")
    with open_store(db) as store, _open_source(source) as (stream, size):
        principal = _principal(store, user_name, token_value)
        rows = upload.rows_of(stream, name=source, each=each, csv_format=is_csv)
        started = time.perf_counter()
        try:
            stored = _store_with_progress(store, principal, rec_type, tag_list, rows,
                                          stream, size)
        except StoreError as exc:
            fail(str(exc))
            return
    seconds = time.perf_counter() - started
    click.echo(f"stored {stored} record(s) of {rec_type} in {seconds:.2f} s", err=True)


def _store_with_progress(store: Store, principal: Principal, rec_type: str,
                         tags: tuple[str, ...], rows: Any, stream: IO[Any],
                         size: int | None) -> int:
    if size is None or size < PROGRESS_OVER_BYTES or not sys.stderr.isatty():
        return upload.store_rows(store, principal, rec_type, tags, rows)
    with click.progressbar(length=size, label="uploading", file=sys.stderr) as bar:
        last = [0]

        def advance(_: int) -> None:
            position = stream.buffer.tell() if hasattr(stream, "buffer") else last[0]
            bar.update(position - last[0])
            last[0] = position

        return upload.store_rows(store, principal, rec_type, tags, rows, on_batch=advance)


@contextmanager
def _open_source(source: str) -> Iterator[tuple[IO[str], int | None]]:
    """The upload's text and its size in bytes (stdin for ``-``, size unknown)."""
    if source == "-":
        yield sys.stdin, None
        return
    path = Path(source)
    try:
        stream = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="FILE") from exc
    with stream:
        yield stream, path.stat().st_size


@share.command("get")
@click.argument("rec_type")
@click.argument("record_id", required=False)
@click.option("--tags", default="", help="Only records carrying all these (T1,T2).")
@click.option("--latest", is_flag=True, help="Only the newest record.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--per-page", type=click.IntRange(min=1), default=999, show_default=True)
@click.option("--sort", default="", help="Field paths, ascending (tstamp,data.priority).")
@click.option("--no-details", is_flag=True, help="Leave each record's data out.")
@_with_identity
@db_option
def share_get(rec_type: str, record_id: str | None, tags: str, latest: bool, page: int,
              per_page: int, sort: str, no_details: bool, user_name: str | None,
              token_value: str | None, db: Path | None) -> None:
    """Print records of REC_TYPE (or one by RECORD_ID) as the API's JSON envelope."""
    with open_store(db) as store:
        principal = _principal(store, user_name, token_value)
        try:
            with store.session() as session:
                if record_id:
                    body = envelopes.records_envelope(
                        [session.get(principal, rec_type, record_id)])
                else:
                    query = Query(check_rec_type(rec_type),
                                  check_tags([t for t in tags.split(",") if t]),
                                  1 if latest else page, 1 if latest else per_page,
                                  tuple(s for s in sort.split(",") if s))
                    body = envelopes.page_envelope(session.query(principal, query),
                                                   details=not no_details)
        except StoreError as exc:
            fail(str(exc))
            return
    click.echo(json.dumps(body, ensure_ascii=False))


@share.command("delete")
@click.argument("rec_type")
@click.argument("record_id")
@_with_identity
@db_option
def share_delete(rec_type: str, record_id: str, user_name: str | None,
                 token_value: str | None, db: Path | None) -> None:
    """Delete one record."""
    with open_store(db) as store:
        principal = _principal(store, user_name, token_value)
        try:
            with store.session() as session:
                session.delete(principal, rec_type, record_id)
        except StoreError as exc:
            fail(str(exc))
            return
    click.echo(f"deleted {record_id}", err=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
