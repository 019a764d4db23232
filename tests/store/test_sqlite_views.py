"""Views in the store: what SQLite runs must equal what the Python engine gives,
ownership holds, and static views answer as they are."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.envelopes import record_json
from runtime.store.base import Principal, Query, View, WriteRequest
from runtime.store.sqlite import SqliteStore
from runtime.views import ViewError, run_pipeline

ALICE = Principal("alice@example.com", "example.com")
BOB = Principal("bob@example.com", "example.com")

PIPELINES: list[list[dict[str, Any]]] = [
    [{"$match": {"recType": "io.v", "data.level": {"$gt": 5}}}, {"$sort": {"createDate": -1}},
     {"$limit": 4}],
    [{"$match": {"data.level": {"$gte": 3, "$lt": 6}}}, {"$sort": {"createDate": 1}},
     {"$skip": 2}, {"$limit": 3}],
    [{"$match": {"data.device": {"$in": ["d0", "d2"]}}}, {"$sort": {"id": -1}}],
    [{"$match": {"data.vals": {"$gt": 25}}}],
    [{"$match": {"data.flag": True}}],
    [{"$match": {"data.name": "n7"}}],
    [{"$match": {"data.level": {"$ne": 5}}}, {"$limit": 5}],
    [{"$match": {"$and": [{"data.level": {"$lte": 2}}, {"data.device": "d1"}]}}],
    [{"$match": {"data.level": {"$gt": 4}}},
     {"$group": {"_id": "$data.device", "n": {"$sum": 1}, "hi": {"$max": "$data.level"},
                 "avg": {"$avg": "$data.level"}}}, {"$sort": {"_id": 1}}],
    [{"$match": {"data.device": "d1"}}, {"$count": "n"}],
    [{"$group": {"_id": None, "all": {"$addToSet": "$data.device"}}}],
    [{"$unwind": "$data.vals"}, {"$match": {"data.vals": {"$lt": 3}}}],
]


GROUPS: list[list[dict[str, Any]]] = [
    [{"$group": {"_id": "$data.device", "n": {"$sum": 1}, "s": {"$sum": "$data.level"},
                 "a": {"$avg": "$data.level"}, "w": {"$sum": 0.5}}}],
    [{"$match": {"data.level": {"$gt": 3}}}, {"$group": {"_id": "$data.flag",
                                                        "n": {"$sum": 1}}}],
    [{"$group": {"_id": None, "a": {"$avg": "$data.missing"}, "s": {"$sum": "$data.name"}}}],
    [{"$group": {"_id": "$data.vals", "n": {"$sum": 1}}}],
    [{"$group": {"_id": "$recType", "n": {"$sum": 1}}}, {"$sort": {"n": -1}}],
]


@pytest.fixture
def filled(store: SqliteStore) -> SqliteStore:
    import time

    with store.session() as session:
        for n in range(30):  # one millisecond apart: no two records tie on createDate
            session.write_many(ALICE, [WriteRequest("io.v", {
                "device": f"d{n % 3}", "level": n % 10, "vals": [n, n + 1],
                "flag": n % 4 == 0, "name": f"n{n}"})])
            time.sleep(0.002)
        session.write_many(ALICE, [WriteRequest("io.other", {"level": 9})])
        session.write_many(BOB, [WriteRequest("io.v", {"device": "d0", "level": 9})])
    return store


@pytest.mark.parametrize("pipeline", PIPELINES + GROUPS, ids=range(len(PIPELINES + GROUPS)))
def test_the_store_gives_what_the_python_engine_gives(filled: SqliteStore,
                                                      pipeline: list[dict[str, Any]]) -> None:
    with filled.session() as session:
        records = session.query(ALICE, Query("io.v", sort=("id",))).records
        expected = run_pipeline([record_json(r) for r in records], pipeline)
        got = session.run_view(ALICE, "io.v", View("v", "io.v", tuple(pipeline)), {})
    assert got == expected


def test_only_the_callers_records_enter_the_pipeline(filled: SqliteStore) -> None:
    count = View("c", "io.v", ({"$count": "n"},))
    with filled.session() as session:
        assert session.run_view(ALICE, "io.v", count, {}) == [{"n": 30}]
        assert session.run_view(BOB, "io.v", count, {}) == [{"n": 1}]


def test_parameters_fill_the_pipeline(filled: SqliteStore) -> None:
    view = View("p", "io.v", ({"$match": {"data.device": "${device}",
                                          "data.level": {"$gt": "${min}"}}},
                              {"$count": "n"}))
    with filled.session() as session:
        assert session.run_view(ALICE, "io.v", view, {"device": "d1", "min": 4}) == [{"n": 5}]
        with pytest.raises(ViewError, match="needs parameter 'device'"):
            session.run_view(ALICE, "io.v", view, {})


def test_static_views_answer_their_json(store: SqliteStore) -> None:
    with store.session() as session:
        assert session.run_view(ALICE, "io.v", View("s", static={"a": 1}), {}) == [{"a": 1}]


def test_views_belong_to_their_owner_and_manifest_views_to_everyone(store: SqliteStore) -> None:
    from runtime.exceptions import RecordNotFound

    store.put_view(View("mine", "io.v", ({"$count": "n"},), owner=ALICE.user))
    store.put_view(View("shared", "io.v", ({"$count": "n"},)))
    assert store.get_view("mine", ALICE.user).owner == ALICE.user
    assert store.get_view("shared", BOB.user).owner is None
    with pytest.raises(RecordNotFound):
        store.get_view("mine", BOB.user)
    with pytest.raises(RecordNotFound):
        store.put_view(View("mine", "io.v", ({"$count": "x"},), owner=BOB.user))
    with pytest.raises(RecordNotFound):
        store.delete_view("mine", BOB.user)
    store.delete_view("mine", ALICE.user)
    with pytest.raises(RecordNotFound):
        store.get_view("mine", ALICE.user)

