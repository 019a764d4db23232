"""The embedded store: one SQLite file in WAL mode. The only modules importing sqlite3
are this one and ``sqlite_session.py``; the SQL text lives in ``sqlite_sql.py``.

This module owns the file, its schema version, identities, passwords and tokens;
record work happens in sessions (``SqliteSession``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Any

from runtime.events import EventBus
from runtime.exceptions import InvalidRecord, NotAuthenticated, RecordNotFound, StoreError
from runtime.passwords import hash_password, verify_password
from runtime.records import org_of
from runtime.store import sqlite_sql as sql
from runtime.store.base import Principal, Record, Store, TokenInfo, View
from runtime.store.runs import PendingTrigger, RunRecord
from runtime.store.sqlite_session import SqliteSession, now_ms

BUSY_TIMEOUT_MS = 30_000
DEFAULT_RETENTION = 1000
DEFAULT_MAX_DEPTH = 8
WAL_AUTOCHECKPOINT_PAGES = 100_000
CHECKPOINT_EVERY_S = 1.0
TOKEN_BYTES = 24  # 192 bits

log = logging.getLogger(__name__)


def token_hash(token: str) -> str:
    """Return how a token is kept: tokens are random, so a plain sha256 suffices."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Checkpoints (copying the WAL into the file, with an fsync) are the
        # checkpointer thread's job, off the write path; this bound only keeps the WAL
        # finite should that thread fall behind.
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
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
        self.events = EventBus()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot create its folder ({exc})") from exc
        self._lock = threading.Lock()
        self._conn = _connect(self.path)
        self._idle: list[sqlite3.Connection] = []
        self._prepare_schema()
        self._checkpointer = _Checkpointer(_connect(self.path))
        self._trigger_routes: dict[str, tuple[tuple[str, str], ...]] = {}
        self._max_depth = DEFAULT_MAX_DEPTH

    def _prepare_schema(self) -> None:
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if version not in (0, sql.SCHEMA_VERSION) or (version == 0 and tables):
                raise StoreError(f"{self.path}: store format {version} is not the format "
                                 f"{sql.SCHEMA_VERSION} this version reads")
            self._conn.executescript(sql.SCHEMA)
            self._conn.execute(f"PRAGMA user_version = {sql.SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot prepare the schema ({exc})") from exc

    # --- identities and passwords ------------------------------------------------------

    def ensure_identity(self, user: str) -> None:
        _check_user(user)
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO identities(name, org, created_ms) VALUES (?, ?, ?)",
                (user, org_of(user), now_ms()))

    def add_identity(self, user: str, password: str | None = None) -> None:
        self.ensure_identity(user)
        if password is not None:
            with self._lock:
                self._conn.execute("UPDATE identities SET password_hash = ? WHERE name = ?",
                                   (hash_password(password), user))

    def check_password(self, user: str, password: str) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT password_hash FROM identities WHERE name = ?",
                                     (user,)).fetchone()
        return bool(row and row[0] and verify_password(password, row[0]))

    # --- tokens ------------------------------------------------------------------------

    def register_token(self, token: str, user: str, *, pipe: bool = False,
                       scope: str = "ALL:ALL", expires_ms: int | None = None) -> None:
        self.ensure_identity(user)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO tokens(hash, identity, pipe, scope, created_ms, "
                "expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash(token), user, int(pipe), scope, now_ms(), expires_ms))

    def create_token(self, user: str, *, pipe: bool = False, scope: str = "ALL:ALL",
                     expires_ms: int | None = None) -> str:
        with self._lock:
            known = self._conn.execute("SELECT 1 FROM identities WHERE name = ?",
                                       (user,)).fetchone()
        if not known:
            raise NotAuthenticated(f"no identity {user!r}: add it first (robot user add)")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self.register_token(token, user, pipe=pipe, scope=scope, expires_ms=expires_ms)
        return token

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

    def list_tokens(self) -> list[TokenInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT hash, identity, pipe, scope, created_ms, expires_ms, revoked "
                "FROM tokens ORDER BY created_ms DESC, hash").fetchall()
        return [TokenInfo(h[:12], user, bool(pipe), scope, created, expires, bool(revoked))
                for h, user, pipe, scope, created, expires, revoked in rows]

    def revoke_token(self, token: str) -> None:
        with self._lock:
            changed = self._conn.execute("UPDATE tokens SET revoked = 1 WHERE hash = ?",
                                         (token_hash(token),)).rowcount
        if not changed:
            raise NotAuthenticated("unknown token")

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
        if expires_ms is not None and expires_ms <= now_ms():
            raise NotAuthenticated("token expired")
        return Principal(user=user, org=org, scope=scope, pipe=bool(pipe))

    # --- record-created triggers -------------------------------------------------------

    def set_triggers(self, routes: dict[str, list[tuple[str, str]]], max_depth: int) -> None:
        """Say which robots run when a record of a recType is created.

        Args:
            routes: recType -> ``(robot id, the robot's identity)`` pairs.
            max_depth: a record written at this chain depth triggers nothing more.
        """
        self._trigger_routes = {k: tuple(v) for k, v in routes.items()}
        self._max_depth = max_depth

    def triggers_for(self, record: Record, seq: int, depth: int, now: int
                     ) -> list[tuple[str, int, str, int, int]]:
        """The outbox rows a new record makes: one per robot whose identity may read it."""
        routes = self._trigger_routes.get(record.rec_type)
        if not routes:
            return []
        if depth >= self._max_depth:
            log.warning("trigger chain cut: a record of %s written at depth %d (limit %d) "
                        "triggers nothing", record.rec_type, depth, self._max_depth)
            return []
        return [(robot, seq, record.rec_type, depth + 1, now) for robot, user in routes
                if user == record.owner or user in record.co_owners]

    def pending_triggers(self, limit: int = 1000) -> list[PendingTrigger]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, robot, record_seq, rec_type, depth FROM pending_triggers "
                "ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [PendingTrigger(*row) for row in rows]

    def trigger_record(self, pending: PendingTrigger) -> Record | None:
        """The record a trigger is for (None if it was deleted since)."""
        with self._lock:
            row = self._conn.execute(f"SELECT {sql.RECORD_COLUMNS} FROM records r "
                                     "WHERE r.seq = ?", (pending.record_seq,)).fetchone()
        return None if row is None else sql.to_record(row)

    # --- run history ---------------------------------------------------------------------

    def record_run(self, run: RunRecord, *, retention: int = DEFAULT_RETENTION,
                   trigger_id: int | None = None) -> int:
        """Keep a run (and forget the robot's runs beyond ``retention``); a trigger's
        run also takes its trigger out of the outbox, in the same transaction."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                run_id = conn.execute(
                    "INSERT INTO runs(robot, trigger, status, scheduled_ms, fired_ms, "
                    "started_ms, ended_ms, error, log, log_cut, writes, http) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.robot, run.trigger, run.status, run.scheduled_ms, run.fired_ms,
                     run.started_ms, run.ended_ms, json.dumps(run.error) if run.error else None,
                     json.dumps(run.log), int(run.log_cut), run.writes,
                     json.dumps(run.http))).lastrowid
                conn.execute("DELETE FROM runs WHERE robot = ? AND id <= ?",
                             (run.robot, (run_id or 0) - retention))
                if trigger_id is not None:
                    conn.execute("DELETE FROM pending_triggers WHERE id = ?", (trigger_id,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        assert run_id is not None
        return run_id

    def runs(self, *, robot: str | None = None, status: str | None = None,
             limit: int = 50) -> list[RunRecord]:
        """The newest runs, optionally of one robot or one status."""
        clauses, params = [], []
        if robot is not None:
            clauses.append("robot = ?")
            params.append(robot)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs {where} "
                                      "ORDER BY id DESC LIMIT ?", [*params, limit]).fetchall()
        return [_run(row) for row in rows]

    def run(self, run_id: int) -> RunRecord:
        """One run.

        Raises:
            RecordNotFound: no such run.
        """
        with self._lock:
            row = self._conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?",
                                     (run_id,)).fetchone()
        if row is None:
            raise RecordNotFound(f"no run {run_id}")
        return _run(row)

    # --- views ---------------------------------------------------------------------------

    def put_view(self, view: View) -> None:
        definition = json.dumps(view.to_json())
        with self._lock:
            row = self._conn.execute("SELECT owner FROM views WHERE id = ?",
                                     (view.id,)).fetchone()
            if row is not None and row[0] != view.owner:
                raise RecordNotFound(f"no view {view.id!r} of yours")
            self._conn.execute("INSERT OR REPLACE INTO views(id, owner, rec_type, definition) "
                               "VALUES (?, ?, ?, ?)",
                               (view.id, view.owner, view.rec_type, definition))

    def get_view(self, view_id: str, user: str) -> View:
        with self._lock:
            row = self._conn.execute(
                "SELECT owner, definition FROM views WHERE id = ? AND "
                "(owner IS NULL OR owner = ?)", (view_id, user)).fetchone()
        if row is None:
            raise RecordNotFound(f"no view {view_id!r}")
        body = json.loads(row[1])
        pipeline = body.get("pipeline")
        return View(view_id, body.get("recType"), None if pipeline is None else tuple(pipeline),
                    body.get("static"), row[0])

    def delete_view(self, view_id: str, user: str) -> None:
        with self._lock:
            gone = self._conn.execute("DELETE FROM views WHERE id = ? AND owner = ?",
                                      (view_id, user)).rowcount
        if not gone:
            raise RecordNotFound(f"no view {view_id!r} of yours")

    # --- sessions ------------------------------------------------------------------------

    def session(self) -> SqliteSession:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        return SqliteSession(self, conn or _connect(self.path), self.events.publish)

    def release(self, conn: sqlite3.Connection) -> None:
        """Take back a session's connection for reuse."""
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        self._checkpointer.close()
        with self._lock:
            for conn in [self._conn, *self._idle]:
                conn.close()
            self._idle.clear()


class _Checkpointer:
    """Copies the WAL into the database file every second, on its own thread and
    connection: a PASSIVE checkpoint never waits for writers, and sqlite3 lets go of
    the GIL while it works, so writers go on meanwhile."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(CHECKPOINT_EVERY_S):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass  # busy now; the next round catches up

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        self._conn.close()


_RUN_COLUMNS = ("robot, trigger, status, scheduled_ms, fired_ms, started_ms, ended_ms, error, "
                "log, log_cut, writes, http, id")


def _run(row: tuple[Any, ...]) -> RunRecord:
    (robot, trigger, status, scheduled, fired, started, ended, error, log_text, cut, writes,
     http, run_id) = row
    return RunRecord(robot, trigger, status, scheduled, fired, started, ended,
                     json.loads(error) if error else None, json.loads(log_text), bool(cut),
                     writes, json.loads(http), run_id)


def _check_user(user: str) -> None:
    if not isinstance(user, str) or not 1 <= len(user) <= 200 or user != user.strip():
        raise InvalidRecord(f"invalid identity name {user!r}: 1-200 characters, "
                            "no surrounding spaces")
