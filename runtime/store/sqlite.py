"""The embedded store: one SQLite file in WAL mode. The only module importing sqlite3.

Records keep their data as JSON text; tags and co-owners live in their own
indexed tables so that "all these tags" and "owned or co-owned" are index
look-ups. A session keeps one transaction open across writes and commits it
every :data:`COMMIT_EVERY` records or :data:`COMMIT_AFTER_S` seconds, and on close.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime import access
from runtime.exceptions import InvalidRecord, NotAuthenticated, RecordNotFound, StoreError
from runtime.records import check_id, compact_json, new_ids, org_of
from runtime.store.base import (
    Page,
    Principal,
    Query,
    Record,
    Store,
    StoreSession,
    WriteRequest,
    new_record,
)

COMMIT_EVERY = 5000
COMMIT_AFTER_S = 0.25
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    name TEXT PRIMARY KEY, org TEXT NOT NULL, password_hash TEXT, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, identity TEXT NOT NULL REFERENCES identities(name),
    pipe INTEGER NOT NULL DEFAULT 0, scope TEXT NOT NULL DEFAULT 'ALL:ALL',
    created_ms INTEGER NOT NULL, expires_ms INTEGER, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, rec_type TEXT NOT NULL,
    owner TEXT NOT NULL, org TEXT NOT NULL, created_ms INTEGER NOT NULL,
    creator TEXT NOT NULL, checksum TEXT NOT NULL, data TEXT NOT NULL, tags TEXT NOT NULL,
    co_owners TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS records_type_owner_seq ON records(rec_type, owner, seq);
CREATE TABLE IF NOT EXISTS record_tags (
    tag TEXT NOT NULL, record_seq INTEGER NOT NULL, PRIMARY KEY (tag, record_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS co_owners (
    identity TEXT NOT NULL, record_seq INTEGER NOT NULL,
    PRIMARY KEY (identity, record_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS robot_state (
    robot TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (robot, key)) WITHOUT ROWID;
"""

_SORT_COLUMNS = {
    "tstamp": "r.created_ms", "createDate": "r.created_ms", "id": "r.seq", "_id": "r.seq",
    "recType": "r.rec_type", "creatorId": "r.creator", "updaterId": "r.creator",
    "name": "''", "desc": "''",
}
_DATA_PATH = re.compile(r"^data((?:\.[A-Za-z0-9_$@-]+)+)$")
_RECORD_COLUMNS = "r.seq, r.id, r.rec_type, r.data, r.tags, r.created_ms, r.creator, " \
                  "r.owner, r.org, r.checksum, r.co_owners"


def token_hash(token: str) -> str:
    """Return how a token is kept: tokens are random, so a plain sha256 suffices."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the store ({exc})") from exc
    return conn


class SqliteStore(Store):
    """The data lake in one SQLite file, created on first use.

    Args:
        path: the database file; its folder is created if missing.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create its folder ({exc})") from exc
        self._lock = threading.Lock()
        self._conn = _connect(self.path)
        self._idle: list[sqlite3.Connection] = []
        try:
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot prepare the schema ({exc})") from exc

    def ensure_identity(self, user: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO identities(name, org, created_ms) VALUES (?, ?, ?)",
                (user, org_of(user), _now_ms()))

    def register_token(self, token: str, user: str, *, pipe: bool = False,
                       scope: str = "ALL:ALL", expires_ms: int | None = None) -> None:
        self.ensure_identity(user)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO tokens(hash, identity, pipe, scope, created_ms, "
                "expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash(token), user, int(pipe), scope, _now_ms(), expires_ms))

    def local_token(self, user: str) -> str:
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO settings(key, value) VALUES (?, ?)",
                               ("local_secret", secrets.token_hex(32)))
            secret = self._conn.execute("SELECT value FROM settings WHERE key = ?",
                                        ("local_secret",)).fetchone()[0]
        token = "local-" + hmac.new(secret.encode(), user.encode("utf-8"),
                                    hashlib.sha256).hexdigest()[:40]
        self.register_token(token, user)
        return token

    def authenticate(self, token: str) -> Principal:
        with self._lock:
            row = self._conn.execute(
                "SELECT t.identity, i.org, t.scope, t.pipe, t.expires_ms, t.revoked "
                "FROM tokens t JOIN identities i ON i.name = t.identity WHERE t.hash = ?",
                (token_hash(token),)).fetchone()
        if row is None:
            raise NotAuthenticated("unknown token")
        user, org, scope, pipe, expires_ms, revoked = row
        if revoked:
            raise NotAuthenticated("token revoked")
        if expires_ms is not None and expires_ms <= _now_ms():
            raise NotAuthenticated("token expired")
        return Principal(user=user, org=org, scope=scope, pipe=bool(pipe))

    def session(self) -> SqliteSession:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        return SqliteSession(self, conn or _connect(self.path))

    def release(self, conn: sqlite3.Connection) -> None:
        """Take back a session's connection for reuse."""
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            for conn in [self._conn, *self._idle]:
                conn.close()
            self._idle.clear()


class SqliteSession(StoreSession):
    """One unit of work on one connection (see :class:`StoreSession`)."""

    def __init__(self, store: SqliteStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = conn
        self._pending = 0
        self._began = 0.0
        self._last_seq = 0

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("this store session is closed")
        return self._conn

    def _begin_write(self) -> sqlite3.Connection:
        conn = self.conn
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
            self._began = time.monotonic()
            # The write lock is ours until COMMIT, so record numbers can be handed out here
            # and a batch inserted with executemany.
            self._last_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM records"
                                          ).fetchone()[0]
        return conn

    def _wrote(self, count: int = 1) -> None:
        self._pending += count
        if self._pending >= COMMIT_EVERY or time.monotonic() - self._began > COMMIT_AFTER_S:
            self.commit()

    def write(self, principal: Principal, request: WriteRequest) -> Record:
        [outcome] = self.write_many(principal, [request])
        if isinstance(outcome, StoreError):
            raise outcome
        return outcome

    def write_many(self, principal: Principal, requests: Sequence[WriteRequest]
                   ) -> list[Record | StoreError]:
        now = _now_ms()
        try:
            access.require_write(principal)
        except StoreError as exc:
            return [exc] * len(requests)
        outcomes: list[Record | StoreError] = []
        rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[str, int]] = []
        owner_rows: list[tuple[str, int]] = []
        conn = self._begin_write()
        seq = self._last_seq
        for request, record_id in zip(requests, new_ids(len(requests), now), strict=True):
            try:
                record, text = new_record(principal, request, now, checked=True,
                                          record_id=record_id)
            except StoreError as exc:
                outcomes.append(exc)
                continue
            seq += 1
            rows.append((seq, record.id, record.rec_type, record.owner, record.org,
                         record.create_ms, record.creator, record.checksum, text,
                         _tags_json(record.tags),
                         compact_json(record.co_owners) if record.co_owners else "[]"))
            tag_rows.extend((tag, seq) for tag in record.tags)
            owner_rows.extend((owner, seq) for owner in record.co_owners)
            outcomes.append(record)
        try:
            conn.executemany(
                "INSERT INTO records(seq, id, rec_type, owner, org, created_ms, creator, "
                "checksum, data, tags, co_owners) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO record_tags(tag, record_seq) VALUES (?, ?)", tag_rows)
            conn.executemany("INSERT INTO co_owners(identity, record_seq) VALUES (?, ?)",
                             owner_rows)
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"cannot store the records: {exc}") from exc
        self._last_seq = seq
        self._wrote(len(rows))
        return outcomes

    def get(self, principal: Principal, rec_type: str, record_id: str, *,
            check_access: bool = True) -> Record:
        if check_access:
            access.require_read(principal)
        row = self.conn.execute(
            f"SELECT {_RECORD_COLUMNS} FROM records r WHERE r.id = ? AND r.rec_type = ? "
            f"AND {_READABLE}", (check_id(record_id), rec_type, principal.user,
                                principal.user)).fetchone()
        if row is None:
            raise RecordNotFound(f"no record {record_id} of recType {rec_type}")
        return _record(row)

    def query(self, principal: Principal, query: Query) -> Page:
        access.require_read(principal)
        if query.page < 1 or query.per_page < 1:
            raise InvalidRecord("page and perPage must be 1 or more")
        where, params = _where(principal, query)
        total = self.conn.execute(f"SELECT count(*) FROM records r WHERE {where}",
                                  params).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT {_RECORD_COLUMNS} FROM records r WHERE {where} ORDER BY {_order(query)} "
            "LIMIT ? OFFSET ?",
            [*params, query.per_page, (query.page - 1) * query.per_page]).fetchall()
        return Page([_record(row) for row in rows], total, query.page, query.per_page)

    def delete(self, principal: Principal, rec_type: str, record_id: str) -> None:
        record = self.get(principal, rec_type, record_id)
        access.require_write(principal)
        conn = self._begin_write()
        seq = conn.execute("SELECT seq FROM records WHERE id = ?", (record.id,)).fetchone()[0]
        conn.execute("DELETE FROM record_tags WHERE record_seq = ? AND tag IN "
                     "(SELECT value FROM json_each(?))", (seq, json.dumps(record.tags)))
        conn.execute("DELETE FROM co_owners WHERE record_seq = ?", (seq,))
        conn.execute("DELETE FROM records WHERE seq = ?", (seq,))
        self._wrote()

    def state_get(self, robot: str, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM robot_state WHERE robot = ? AND key = ?",
                                (robot, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def state_set(self, robot: str, key: str, value: Any) -> None:
        text = json.dumps(value, ensure_ascii=False)
        self._begin_write().execute(
            "INSERT OR REPLACE INTO robot_state(robot, key, value) VALUES (?, ?, ?)",
            (robot, key, text))
        self._wrote()

    def state_delete(self, robot: str, key: str) -> None:
        self._begin_write().execute("DELETE FROM robot_state WHERE robot = ? AND key = ?",
                                    (robot, key))
        self._wrote()

    def commit(self) -> None:
        conn = self.conn
        if conn.in_transaction:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot commit: {exc}") from exc
        self._pending = 0

    def close(self) -> None:
        if self._conn is None:
            return
        try:
            self.commit()
        finally:
            conn, self._conn = self._conn, None
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._store.release(conn)


_READABLE = ("(r.owner = ? OR r.seq IN (SELECT record_seq FROM co_owners "
             "WHERE identity = ?))")


def _where(principal: Principal, query: Query) -> tuple[str, list[Any]]:
    clauses = ["r.rec_type = ?", _READABLE]
    params: list[Any] = [query.rec_type, principal.user, principal.user]
    for tag in query.tags:
        clauses.append("r.seq IN (SELECT record_seq FROM record_tags WHERE tag = ?)")
        params.append(tag)
    return " AND ".join(clauses), params


def _order(query: Query) -> str:
    if not query.sort:
        return "r.seq DESC"
    terms = []
    for name in query.sort:
        column = _SORT_COLUMNS.get(name)
        if column is None:
            path = _DATA_PATH.match(name)
            if path is None:
                raise InvalidRecord(f"cannot sort by {name!r}: use tstamp, id, recType, "
                                    "creatorId, name or a data.<field> path")
            keys = path.group(1)[1:].split(".")
            column = "json_extract(r.data, '$" + "".join(f'."{k}"' for k in keys) + "')"
        terms.append(f"{column} ASC")
    return ", ".join([*terms, "r.seq ASC"])


_tags_texts: dict[tuple[str, ...], str] = {}


def _tags_json(tags: tuple[str, ...]) -> str:
    text = _tags_texts.get(tags)
    if text is None:
        text = compact_json(tags)
        if len(_tags_texts) < 4096:
            _tags_texts[tags] = text
    return text


def _record(row: tuple[Any, ...]) -> Record:
    _, rid, rec_type, data, tags, created, creator, owner, org, digest, co_owners = row
    return Record(rid, rec_type, json.loads(data), tuple(json.loads(tags)), created, creator,
                  owner, org, digest, tuple(json.loads(co_owners)))
