"""The SQL of the SQLite store: schema, query building and row conversion. No I/O.

A record's id holds its store number ``seq`` (``records.stored_id``), so ids need
no index of their own. ``settings.last_seq`` keeps the highest number ever given,
so a number is never given twice, even after the newest record is deleted.
Records of one recType and one owner form a *stream* (``streams``), which keeps its
record count; ``records(stream, seq)`` is the index pages are cut from. Every
:data:`MARK_EVERY`-th record of a stream is marked (``stream_marks``: its rank from
the oldest, and its seq), so a page anywhere in a stream of millions starts from
the nearest mark and walks fewer than :data:`MARK_EVERY` index entries. Tags and
co-owners have tables of their own, keyed for "all these tags" and "co-owned by".
"""

from __future__ import annotations

import json
import re
from typing import Any

from runtime.exceptions import InvalidRecord
from runtime.store.base import Query, Record

SCHEMA_VERSION = 1
MARK_EVERY = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    name TEXT PRIMARY KEY, org TEXT NOT NULL, password_hash TEXT, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, identity TEXT NOT NULL REFERENCES identities(name),
    pipe INTEGER NOT NULL DEFAULT 0, scope TEXT NOT NULL DEFAULT 'ALL:ALL',
    created_ms INTEGER NOT NULL, expires_ms INTEGER, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY, rec_type TEXT NOT NULL, owner TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0, UNIQUE (rec_type, owner));
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL, stream INTEGER NOT NULL,
    rec_type TEXT NOT NULL, owner TEXT NOT NULL, org TEXT NOT NULL,
    created_ms INTEGER NOT NULL, creator TEXT NOT NULL, checksum TEXT NOT NULL,
    data TEXT NOT NULL, tags TEXT NOT NULL, co_owners TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS records_stream_seq ON records(stream, seq);
CREATE TABLE IF NOT EXISTS stream_marks (
    stream INTEGER NOT NULL, rank INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (stream, rank)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS record_tags (
    tag TEXT NOT NULL, record_seq INTEGER NOT NULL, PRIMARY KEY (tag, record_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS co_owners (
    identity TEXT NOT NULL, record_seq INTEGER NOT NULL,
    PRIMARY KEY (identity, record_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO settings(key, value) VALUES ('last_seq', '0');
CREATE TABLE IF NOT EXISTS pending_triggers (
    id INTEGER PRIMARY KEY, robot TEXT NOT NULL, record_seq INTEGER NOT NULL,
    rec_type TEXT NOT NULL, depth INTEGER NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, robot TEXT NOT NULL, trigger TEXT NOT NULL, status TEXT NOT NULL,
    scheduled_ms INTEGER, fired_ms INTEGER, started_ms INTEGER, ended_ms INTEGER,
    error TEXT, log TEXT NOT NULL, log_cut INTEGER NOT NULL, writes INTEGER NOT NULL,
    http TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_robot ON runs(robot, id);
CREATE TABLE IF NOT EXISTS views (
    id TEXT PRIMARY KEY, owner TEXT, rec_type TEXT, definition TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS robot_state (
    robot TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (robot, key)) WITHOUT ROWID;
"""

INSERT_RECORD = (
    "INSERT INTO records(seq, id, stream, rec_type, owner, org, created_ms, creator, checksum,"
    " data, tags, co_owners) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

RECORD_COLUMNS = ("r.seq, r.id, r.rec_type, r.data, r.tags, r.created_ms, r.creator, "
                  "r.owner, r.org, r.checksum, r.co_owners")

READABLE = "(r.owner = ? OR r.seq IN (SELECT record_seq FROM co_owners WHERE identity = ?))"

CO_OWNED_OF_TYPE = (
    "SELECT count(*) FROM co_owners c JOIN records r ON r.seq = c.record_seq "
    "WHERE c.identity = ? AND r.rec_type = ?")

_SORT_COLUMNS = {
    "tstamp": "r.created_ms", "createDate": "r.created_ms", "id": "r.seq", "_id": "r.seq",
    "recType": "r.rec_type", "creatorId": "r.creator", "updaterId": "r.creator",
    "name": "''", "desc": "''",
}
_DATA_PATH = re.compile(r"^data((?:\.[A-Za-z0-9_$@-]+)+)$")


def stream_page(total: int, query: Query) -> tuple[int, int] | None:
    """Where one newest-first page of a stream lies, counted from the oldest record.

    Returns:
        ``(rank, count)``: the oldest-first rank of the page's oldest record and how
        many records the page holds; None when the page lies past the end.
    """
    offset = (query.page - 1) * query.per_page
    if offset >= total:
        return None
    count = min(query.per_page, total - offset)
    return total - offset - count, count


PAGE_FROM_MARK = (
    f"SELECT {RECORD_COLUMNS} FROM records r WHERE r.seq IN "
    "(SELECT seq FROM records WHERE stream = ? AND seq >= ? ORDER BY seq ASC LIMIT ? OFFSET ?)"
    " ORDER BY r.seq DESC")

NEAREST_MARK = ("SELECT rank, seq FROM stream_marks WHERE stream = ? AND rank <= ? "
                "ORDER BY rank DESC LIMIT 1")


def marks_for(count_before: int, seqs: list[int]) -> list[tuple[int, int]]:
    """The marks a batch adds to a stream: ``(rank, seq)`` of each new record whose
    oldest-first rank is a multiple of :data:`MARK_EVERY`."""
    first = -(-count_before // MARK_EVERY) * MARK_EVERY
    return [(rank, seqs[rank - count_before])
            for rank in range(first, count_before + len(seqs), MARK_EVERY)]


def general_where(user: str, query: Query) -> tuple[str, list[Any]]:
    """WHERE clause for a query with tags, a sort, or co-owned records."""
    clauses = ["r.rec_type = ?", READABLE]
    params: list[Any] = [query.rec_type, user, user]
    for tag in query.tags:
        clauses.append("r.seq IN (SELECT record_seq FROM record_tags WHERE tag = ?)")
        params.append(tag)
    return " AND ".join(clauses), params


def order_by(query: Query) -> str:
    """ORDER BY for a query: newest first, or its sort fields ascending.

    Raises:
        InvalidRecord: a sort field that is not a record field or a ``data.`` path.
    """
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


def to_record(row: tuple[Any, ...]) -> Record:
    """Turn a row of :data:`RECORD_COLUMNS` into a record."""
    _, rid, rec_type, data, tags, created, creator, owner, org, digest, co_owners = row
    return Record(rid, rec_type, json.loads(data), tuple(json.loads(tags)), created, creator,
                  owner, org, digest, tuple(json.loads(co_owners)))
