"""A unit of work on the SQLite store: one connection, one open write transaction.

Writes go into a transaction that is committed every :data:`COMMIT_EVERY` records,
after :data:`COMMIT_AFTER_S` seconds, and on close; reads on the same connection
see them at once. Batches are inserted with ``executemany`` under a savepoint, so
a failed batch leaves the rest of the transaction as it was.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from runtime import access, views
from runtime.envelopes import record_json
from runtime.exceptions import InvalidRecord, RecordNotFound, StoreError
from runtime.records import check_id, compact_json, seq_of, stored_id
from runtime.store import sqlite_sql as sql
from runtime.store import sqlite_views
from runtime.store.base import (
    Page,
    Principal,
    Query,
    Record,
    StoreSession,
    View,
    WriteRequest,
    new_record,
)

if TYPE_CHECKING:
    from runtime.store.sqlite import SqliteStore

COMMIT_EVERY = 5000
COMMIT_AFTER_S = 0.25

_tags_texts: dict[tuple[str, ...], str] = {}


def _tags_json(tags: tuple[str, ...]) -> str:
    text = _tags_texts.get(tags)
    if text is None:
        text = compact_json(tags)
        if len(_tags_texts) < 4096:  # robots write the same few tag lists over and over
            _tags_texts[tags] = text
    return text


def now_ms() -> int:
    """The wall clock in milliseconds, as records keep it."""
    return int(time.time() * 1000)


class SqliteSession(StoreSession):
    """One unit of work on one connection (see :class:`StoreSession`).

    Args:
        store: the store the connection goes back to on close.
        conn: the connection, in autocommit mode.
        on_commit: called with the records each commit made durable.
    """

    def __init__(self, store: SqliteStore, conn: sqlite3.Connection,
                 on_commit: Callable[[list[Record]], None] | None = None) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = conn
        self._on_commit = on_commit
        self._uncommitted: list[Record] = []
        self._pending = 0
        self._began = 0.0
        self._last_seq = 0
        self._streams: dict[tuple[str, str], int] = {}
        #: The chain depth of the run writing through this session (0: not a trigger).
        self.trigger_depth = 0

    @property
    def conn(self) -> sqlite3.Connection:
        """The session's connection.

        Raises:
            StoreError: the session is closed.
        """
        if self._conn is None:
            raise StoreError("this store session is closed")
        return self._conn

    # --- writing -------------------------------------------------------------------------

    def _begin_write(self) -> sqlite3.Connection:
        conn = self.conn
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
            self._began = time.monotonic()
            # The write lock is ours until COMMIT, so record numbers are handed out here
            # and a batch goes in with one executemany.
            self._last_seq = int(conn.execute(
                "SELECT value FROM settings WHERE key = 'last_seq'").fetchone()[0])
        return conn

    def _wrote(self, count: int = 1) -> None:
        self._pending += count
        if self._pending >= COMMIT_EVERY or time.monotonic() - self._began > COMMIT_AFTER_S:
            self.commit()

    def _stream(self, rec_type: str, owner: str, *, create: bool) -> int | None:
        key = (rec_type, owner)
        stream = self._streams.get(key)
        if stream is None:
            row = self.conn.execute("SELECT id FROM streams WHERE rec_type = ? AND owner = ?",
                                    key).fetchone()
            if row is None and not create:
                return None
            if row is None:
                stream = self.conn.execute("INSERT INTO streams(rec_type, owner) VALUES (?, ?)",
                                           key).lastrowid
            else:
                stream = row[0]
            assert stream is not None
            self._streams[key] = stream
        return stream

    def write(self, principal: Principal, request: WriteRequest) -> Record:
        [outcome] = self.write_many(principal, [request])
        if isinstance(outcome, StoreError):
            raise outcome
        return outcome

    def write_many(self, principal: Principal, requests: Sequence[WriteRequest], *,
                   atomic: bool = False) -> list[Record | StoreError]:
        try:
            access.require_write(principal)
        except StoreError as exc:
            return [exc] * len(requests)
        conn = self._begin_write()
        # Taken under the write lock, so creation times rise with store numbers.
        now = now_ms()
        conn.execute("SAVEPOINT batch")
        try:
            outcomes = self._insert(principal, requests, now, atomic)
        except BaseException:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            self._streams.clear()  # a stream made in the batch is gone with it
            raise
        conn.execute("RELEASE batch")
        written = [o for o in outcomes if isinstance(o, Record)]
        self._uncommitted.extend(written)
        self._wrote(len(written))
        return outcomes

    def _insert(self, principal: Principal, requests: Sequence[WriteRequest], now: int,
                atomic: bool) -> list[Record | StoreError]:
        outcomes: list[Record | StoreError] = []
        rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[str, int]] = []
        owner_rows: list[tuple[str, int]] = []
        trigger_rows: list[tuple[str, int, str, int, int]] = []
        added: dict[int, list[int]] = {}  # stream -> seqs of its new records, in order
        seq = self._last_seq
        for index, request in enumerate(requests):
            try:
                record, text = new_record(principal, request, now, checked=True,
                                          record_id=stored_id(now, seq + 1))
            except StoreError as exc:
                if atomic:
                    raise InvalidRecord(f"record {index + 1} of the batch: {exc}") from exc
                outcomes.append(exc)
                continue
            stream = self._stream(record.rec_type, record.owner, create=True)
            assert stream is not None
            seq += 1
            added.setdefault(stream, []).append(seq)
            rows.append((seq, record.id, stream, record.rec_type, record.owner, record.org,
                         record.create_ms, record.creator, record.checksum, text,
                         _tags_json(record.tags),
                         compact_json(record.co_owners) if record.co_owners else "[]"))
            tag_rows.extend((tag, seq) for tag in record.tags)
            owner_rows.extend((owner, seq) for owner in record.co_owners)
            trigger_rows.extend(self._store.triggers_for(record, seq, self.trigger_depth, now))
            outcomes.append(record)
        conn = self.conn
        try:
            conn.executemany(sql.INSERT_RECORD, rows)
            conn.executemany("INSERT INTO record_tags(tag, record_seq) VALUES (?, ?)", tag_rows)
            conn.executemany("INSERT INTO co_owners(identity, record_seq) VALUES (?, ?)",
                             owner_rows)
            # The transactional outbox: a trigger is durable exactly when its record is.
            conn.executemany("INSERT INTO pending_triggers(robot, record_seq, rec_type, depth, "
                             "created_ms) VALUES (?, ?, ?, ?, ?)", trigger_rows)
            for stream, seqs in added.items():
                before = conn.execute("UPDATE streams SET count = count + ? WHERE id = ? "
                                      "RETURNING count", (len(seqs), stream)).fetchone()[0]
                conn.executemany(
                    "INSERT INTO stream_marks(stream, rank, seq) VALUES (?, ?, ?)",
                    [(stream, rank, at) for rank, at in sql.marks_for(before - len(seqs), seqs)])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot store the records: {exc}") from exc
        if seq != self._last_seq:
            conn.execute("UPDATE settings SET value = ? WHERE key = 'last_seq'", (str(seq),))
        self._last_seq = seq
        return outcomes

    def delete(self, principal: Principal, rec_type: str, record_id: str) -> None:
        record = self.get(principal, rec_type, record_id)
        access.require_write(principal)
        conn = self._begin_write()
        seq, stream = conn.execute("SELECT seq, stream FROM records WHERE seq = ?",
                                   (seq_of(record.id),)).fetchone()
        conn.execute("DELETE FROM record_tags WHERE record_seq = ? AND tag IN "
                     "(SELECT value FROM json_each(?))", (seq, json.dumps(record.tags)))
        conn.execute("DELETE FROM co_owners WHERE record_seq = ?", (seq,))
        conn.execute("DELETE FROM records WHERE seq = ?", (seq,))
        conn.execute("UPDATE streams SET count = count - 1 WHERE id = ?", (stream,))
        self._remark(stream, seq)
        self._wrote()

    def _remark(self, stream: int, deleted_seq: int) -> None:
        """Ranks after a deleted record shift by one: mark them again from the last
        mark before it (deletes are rare; this walks the rest of the stream once)."""
        conn = self.conn
        conn.execute("DELETE FROM stream_marks WHERE stream = ? AND seq >= ?",
                     (stream, deleted_seq))
        last = conn.execute("SELECT rank, seq FROM stream_marks WHERE stream = ? "
                            "ORDER BY rank DESC LIMIT 1", (stream,)).fetchone()
        rank, start = last if last else (0, 0)
        seqs = [row[0] for row in conn.execute(
            "SELECT seq FROM records WHERE stream = ? AND seq >= ? ORDER BY seq",
            (stream, start))]
        conn.executemany("INSERT OR REPLACE INTO stream_marks(stream, rank, seq) "
                         "VALUES (?, ?, ?)",
                         [(stream, r, at) for r, at in sql.marks_for(rank, seqs)])

    # --- reading -------------------------------------------------------------------------

    def get(self, principal: Principal, rec_type: str, record_id: str, *,
            check_access: bool = True) -> Record:
        if check_access:
            access.require_read(principal)
        row = self.conn.execute(
            f"SELECT {sql.RECORD_COLUMNS} FROM records r WHERE r.seq = ? AND r.id = ? "
            f"AND r.rec_type = ? AND {sql.READABLE}",
            (seq_of(check_id(record_id)), record_id, rec_type, principal.user,
             principal.user)).fetchone()
        if row is None:
            raise RecordNotFound(f"no record {record_id} of recType {rec_type}")
        return sql.to_record(row)

    def query(self, principal: Principal, query: Query) -> Page:
        access.require_read(principal)
        if query.page < 1 or query.per_page < 1:
            raise InvalidRecord("page and perPage must be 1 or more")
        order = sql.order_by(query)  # refuses a bad sort field before any work
        conn = self.conn
        if not query.tags and not query.sort and not conn.execute(
                sql.CO_OWNED_OF_TYPE, (principal.user, query.rec_type)).fetchone()[0]:
            return self._stream_page(principal, query)
        where, params = sql.general_where(principal.user, query)
        total = conn.execute(f"SELECT count(*) FROM records r WHERE {where}",
                             params).fetchone()[0]
        rows = conn.execute(
            f"SELECT {sql.RECORD_COLUMNS} FROM records r WHERE {where} ORDER BY {order} "
            "LIMIT ? OFFSET ?",
            [*params, query.per_page, (query.page - 1) * query.per_page]).fetchall()
        return Page([sql.to_record(row) for row in rows], total, query.page, query.per_page)

    def _stream_page(self, principal: Principal, query: Query) -> Page:
        """A page of the principal's own records of one recType, newest first."""
        stream = self._stream(query.rec_type, principal.user, create=False)
        total = 0 if stream is None else self.conn.execute(
            "SELECT count FROM streams WHERE id = ?", (stream,)).fetchone()[0]
        plan = sql.stream_page(total, query)
        if plan is None:
            return Page([], total, query.page, query.per_page)
        rank, count = plan
        mark = self.conn.execute(sql.NEAREST_MARK, (stream, rank)).fetchone()
        mark_rank, mark_seq = mark if mark else (0, 0)
        rows = self.conn.execute(sql.PAGE_FROM_MARK,
                                 (stream, mark_seq, count, rank - mark_rank)).fetchall()
        return Page([sql.to_record(row) for row in rows], total, query.page, query.per_page)

    # --- views ---------------------------------------------------------------------------

    def run_view(self, principal: Principal, rec_type: str, view: View,
                 params: dict[str, Any]) -> list[Any]:
        access.require_read(principal)
        if view.pipeline is None:
            static = view.static
            return static if isinstance(static, list) else [static]
        pipeline = views.check_pipeline(views.substitute(list(view.pipeline), params))
        split = sqlite_views.plan(pipeline)
        where, params_sql = self._readable(principal, rec_type)
        where_sql = " AND ".join([where, *split.where])
        grouped = self._group_in_sql(split, where_sql, [*params_sql, *split.params])
        if grouped is not None:
            return views.run_pipeline(grouped, split.rest[1:])
        paging = "" if split.limit is None and not split.offset else \
            f" LIMIT {-1 if split.limit is None else int(split.limit)} OFFSET {int(split.offset)}"
        columns = sqlite_views.field_columns(split.fields) if split.fields is not None else None
        select = (", ".join(columns) or "1") if columns is not None else sql.RECORD_COLUMNS
        rows = self.conn.execute(
            f"SELECT {select} FROM records r WHERE {where_sql} ORDER BY {split.order}{paging}",
            [*params_sql, *split.params])
        if columns is not None:
            assert split.fields is not None
            fields = split.fields
            docs: Any = (sqlite_views.field_doc(fields, row[:len(fields)]) for row in rows)
        else:
            docs = (record_json(sql.to_record(row)) for row in rows)
        return views.run_pipeline(docs, split.rest)

    def _group_in_sql(self, split: sqlite_views.Plan, where_sql: str, params: list[Any]
                      ) -> list[dict[str, Any]] | None:
        """The first stage of the rest, a $group, run by SQLite when it can be exactly."""
        if not split.rest or "$group" not in split.rest[0] or split.limit is not None \
                or split.offset:
            return None
        translated = sqlite_views.group_sql(split.rest[0]["$group"])
        if translated is None:
            return None
        key, aggregates = translated
        columns = ", ".join([key, *(sql_text for _, sql_text in aggregates)])
        rows = self.conn.execute(
            f"SELECT {columns} FROM records r WHERE {where_sql} GROUP BY 1 "
            "ORDER BY min(r.seq)", params)  # groups in the order their first record came
        names = [name for name, _ in aggregates]
        return [{"_id": json.loads(row[0]), **dict(zip(names, row[1:], strict=True))}
                for row in rows]

    def _readable(self, principal: Principal, rec_type: str) -> tuple[str, list[Any]]:
        """WHERE for the principal's records of one recType (its stream when it can)."""
        if not self.conn.execute(sql.CO_OWNED_OF_TYPE,
                                 (principal.user, rec_type)).fetchone()[0]:
            stream = self._stream(rec_type, principal.user, create=False)
            return "r.stream = ?", [-1 if stream is None else stream]
        return f"r.rec_type = ? AND {sql.READABLE}", [rec_type, principal.user, principal.user]

    # --- robot state ---------------------------------------------------------------------

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

    # --- ending --------------------------------------------------------------------------

    def commit(self) -> None:
        conn = self.conn
        if conn.in_transaction:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot commit: {exc}") from exc
        self._pending = 0
        committed, self._uncommitted = self._uncommitted, []
        if committed and self._on_commit is not None:
            self._on_commit(committed)

    def close(self) -> None:
        if self._conn is None:
            return
        try:
            self.commit()
        finally:
            conn, self._conn = self._conn, None
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._uncommitted.clear()
            self._store.release(conn)
