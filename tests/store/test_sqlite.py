"""The SQLite store against a real file: ownership, paging, sorting, tags, tokens, state."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from runtime.exceptions import Forbidden, InvalidRecord, NotAuthenticated, RecordNotFound
from runtime.store.base import Principal, Query, WriteRequest
from runtime.store.sqlite import SqliteStore

ALICE = Principal("alice@example.com", "example.com")
BOB = Principal("bob@example.com", "example.com")


def write(store: SqliteStore, who: Principal, rec_type: str, data: object,
          tags: tuple[str, ...] = (), co_owners: tuple[str, ...] = ()) -> str:
    with store.session() as session:
        return session.write(who, WriteRequest(rec_type, data, tags, co_owners)).id


def query(store: SqliteStore, who: Principal, q: Query) -> list[object]:
    with store.session() as session:
        return [r.data for r in session.query(who, q).records]


def test_the_file_is_created_in_wal_mode(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "new" / "lake.sqlite3").close()
    conn = sqlite3.connect(tmp_path / "new" / "lake.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_identities_never_see_each_others_records(store: SqliteStore) -> None:
    record_id = write(store, ALICE, "io.t", {"n": 1})
    assert query(store, BOB, Query("io.t")) == []
    with store.session() as session, pytest.raises(RecordNotFound):
        session.get(BOB, "io.t", record_id)


def test_co_owners_read_the_record(store: SqliteStore) -> None:
    write(store, ALICE, "io.t", {"n": 1}, co_owners=("bob@example.com",))
    assert query(store, BOB, Query("io.t")) == [{"n": 1}]


def test_newest_first_by_default_and_pages_are_exact(store: SqliteStore) -> None:
    for n in range(7):
        write(store, ALICE, "io.p", n)
    with store.session() as session:
        page = session.query(ALICE, Query("io.p", page=3, per_page=3))
    assert [r.data for r in page.records] == [0]
    assert (page.total_count, page.total_pages) == (7, 3)


def test_sort_by_data_field_ascending(store: SqliteStore) -> None:
    for priority in (3, 1, 2):
        write(store, ALICE, "io.s", {"priority": priority})
    assert query(store, ALICE, Query("io.s", sort=("data.priority",))) == [
        {"priority": 1}, {"priority": 2}, {"priority": 3}]
    with pytest.raises(InvalidRecord, match="cannot sort by 'bogus'"):
        query(store, ALICE, Query("io.s", sort=("bogus",)))


def test_tags_select_records_carrying_all_of_them(store: SqliteStore) -> None:
    write(store, ALICE, "io.g", 1, ("a", "b"))
    write(store, ALICE, "io.g", 2, ("a",))
    assert query(store, ALICE, Query("io.g", tags=("a", "b"))) == [1]
    assert query(store, ALICE, Query("io.g", tags=("a",))) == [2, 1]


def test_writes_are_visible_to_the_session_at_once_and_durable_on_close(
        store: SqliteStore) -> None:
    other = sqlite3.connect(store.path)
    session = store.session()
    session.write(ALICE, WriteRequest("io.d", 1))
    assert session.query(ALICE, Query("io.d")).total_count == 1
    session.close()
    assert other.execute("SELECT count(*) FROM records").fetchone()[0] == 1


def test_delete_removes_the_record_for_its_owner_only(store: SqliteStore) -> None:
    record_id = write(store, ALICE, "io.x", 1)
    with store.session() as session:
        with pytest.raises(RecordNotFound):
            session.delete(BOB, "io.x", record_id)
        session.delete(ALICE, "io.x", record_id)
    assert query(store, ALICE, Query("io.x")) == []


def test_pipe_tokens_write_but_never_read(store: SqliteStore) -> None:
    store.register_token("pipe-1", "alice@example.com", pipe=True)
    pipe = store.authenticate("pipe-1")
    write(store, pipe, "io.p", 1)
    with store.session() as session, pytest.raises(Forbidden):
        session.query(pipe, Query("io.p"))


def test_scopes_limit_what_a_token_does(store: SqliteStore) -> None:
    reader = Principal("alice@example.com", "example.com", scope="SHARE:READ")
    with store.session() as session, pytest.raises(Forbidden):
        session.write(reader, WriteRequest("io.s", 1))


def test_tokens_are_stored_hashed_and_expire(store: SqliteStore) -> None:
    store.register_token("secret-token", "alice@example.com", expires_ms=1)
    raw = sqlite3.connect(store.path).execute("SELECT hash FROM tokens").fetchall()
    assert all("secret-token" not in row[0] for row in raw)
    with pytest.raises(NotAuthenticated, match="expired"):
        store.authenticate("secret-token")
    with pytest.raises(NotAuthenticated, match="unknown"):
        store.authenticate("never-issued")


def test_local_token_is_stable_and_not_guessable_across_stores(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "a.db") as a, SqliteStore(tmp_path / "b.db") as b:
        assert a.local_token("local") == a.local_token("local")
        assert a.local_token("local") != b.local_token("local")
        assert a.authenticate(a.local_token("local")).user == "local"


@pytest.mark.parametrize("rec_type", ["", "has space", "x" * 201, "slash/no"])
def test_bad_rec_types_are_refused_and_nothing_is_stored(store: SqliteStore,
                                                         rec_type: str) -> None:
    with pytest.raises(InvalidRecord, match="invalid recType"):
        write(store, ALICE, rec_type, 1)
    assert sqlite3.connect(store.path).execute("SELECT count(*) FROM records").fetchone()[0] == 0


def test_record_fields_follow_the_contract(store: SqliteStore) -> None:
    with store.session() as session:
        record = session.write(ALICE, WriteRequest("io.f", {"b": 1, "a": 2}, ("t",)))
    assert len(record.id) == 24 and int(record.id, 16) >= 0
    assert record.owner == "alice@example.com" and record.org == "example.com"
    import hashlib
    assert record.checksum == hashlib.sha256(b'{"a":2,"b":1}').hexdigest()


def test_ids_are_time_ordered(store: SqliteStore) -> None:
    ids = [write(store, ALICE, "io.o", n) for n in range(50)]
    assert ids == sorted(ids)


def test_robot_state_round_trips_json(store: SqliteStore) -> None:
    with store.session() as session:
        session.state_set("r1", "cursor", {"at": [1, 2]})
        assert session.state_get("r1", "cursor") == {"at": [1, 2]}
        assert session.state_get("r2", "cursor") is None
        session.state_delete("r1", "cursor")
        assert session.state_get("r1", "cursor") is None


def test_concurrent_sessions_lose_no_write(store: SqliteStore) -> None:
    def writer() -> None:
        for n in range(200):
            write(store, ALICE, "io.c", n)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.session() as session:
        assert session.query(ALICE, Query("io.c", per_page=1)).total_count == 800


def test_pages_cut_from_stream_marks_match_a_plain_listing(
        store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.store import sqlite_sql

    monkeypatch.setattr(sqlite_sql, "MARK_EVERY", 10)
    with store.session() as session:
        session.write_many(ALICE, [WriteRequest("io.m", n) for n in range(57)])
        session.write_many(ALICE, [WriteRequest("io.m", n) for n in range(57, 95)])
        session.write(BOB, WriteRequest("io.m", -1))  # another stream in between
    expected = list(range(94, -1, -1))

    def pages(per_page: int) -> list[object]:
        out: list[object] = []
        for page in range(1, 100):
            got = query(store, ALICE, Query("io.m", page=page, per_page=per_page))
            if not got:
                return out
            out.extend(got)
        return out

    assert pages(7) == expected and pages(10) == expected
    ids = {}
    with store.session() as session:
        for record in session.query(ALICE, Query("io.m")).records:
            ids[record.data] = record.id
        for gone in (3, 40, 41, 90):
            session.delete(ALICE, "io.m", ids[gone])
    assert pages(7) == [n for n in expected if n not in (3, 40, 41, 90)]
