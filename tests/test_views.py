"""The pipeline engine: each stage and operator against hand-computed results."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.views import ViewError, run_pipeline, substitute

DOCS: list[dict[str, Any]] = [
    {"recType": "io.r", "createDate": {"$date": 3}, "tags": ["a", "b"],
     "data": {"device": "d1", "level": 7, "meta": {"site": "north"}, "vals": [1, 2]}},
    {"recType": "io.r", "createDate": {"$date": 1}, "tags": ["a"],
     "data": {"device": "d2", "level": 3, "meta": {"site": "south"}, "vals": [3]}},
    {"recType": "io.r", "createDate": {"$date": 2}, "tags": [],
     "data": {"device": "d1", "level": 9, "meta": {"site": "north"}}},
]


def levels(pipeline: list[Any]) -> list[Any]:
    return [d["data"]["level"] for d in run_pipeline(DOCS, pipeline)]


@pytest.mark.parametrize("query, expected", [
    ({"data.device": "d1"}, [7, 9]),
    ({"data.level": {"$eq": 3}}, [3]),
    ({"data.level": {"$ne": 3}}, [7, 9]),
    ({"data.level": {"$gt": 7}}, [9]),
    ({"data.level": {"$gte": 7}}, [7, 9]),
    ({"data.level": {"$lt": 7}}, [3]),
    ({"data.level": {"$lte": 7}}, [7, 3]),
    ({"data.level": {"$in": [3, 9]}}, [3, 9]),
    ({"data.level": {"$nin": [3, 9]}}, [7]),
    ({"tags": {"$all": ["a", "b"]}}, [7]),
    ({"tags": "a"}, [7, 3]),
    ({"data.vals": {"$exists": True}}, [7, 3]),
    ({"data.vals": {"$exists": False}}, [9]),
    ({"data.meta.site": {"$regex": "^no"}}, [7, 9]),
    ({"$and": [{"data.device": "d1"}, {"data.level": {"$lt": 8}}]}, [7]),
    ({"$or": [{"data.level": 3}, {"data.level": 9}]}, [3, 9]),
    ({"data.level": {"$not": {"$gt": 5}}}, [3]),
    ({"data.level": {"$gt": 2, "$lt": 8}}, [7, 3]),
])
def test_match_operators(query: dict[str, Any], expected: list[int]) -> None:
    assert levels([{"$match": query}]) == expected


def test_sort_skip_limit() -> None:
    assert levels([{"$sort": {"createDate": -1}}]) == [7, 9, 3]
    assert levels([{"$sort": {"data.device": 1, "data.level": -1}}]) == [9, 7, 3]
    assert levels([{"$sort": {"data.level": 1}}, {"$skip": 1}, {"$limit": 1}]) == [7]


def test_project_inclusion_exclusion_and_renaming() -> None:
    [first] = run_pipeline(DOCS[:1], [{"$project": {"data.device": 1, "site": "$data.meta.site"}}])
    assert first == {"data": {"device": "d1"}, "site": "north"}
    [slim] = run_pipeline(DOCS[:1], [{"$project": {"data": 0, "tags": 0}}])
    assert slim == {"recType": "io.r", "createDate": {"$date": 3}}


def test_unwind_then_group_with_every_accumulator() -> None:
    out = run_pipeline(DOCS, [
        {"$unwind": "$data.vals"},
        {"$group": {"_id": "$data.device", "n": {"$sum": 1}, "total": {"$sum": "$data.vals"},
                    "avg": {"$avg": "$data.vals"}, "lo": {"$min": "$data.vals"},
                    "hi": {"$max": "$data.vals"}, "first": {"$first": "$data.level"},
                    "last": {"$last": "$data.level"}, "all": {"$push": "$data.vals"},
                    "levels": {"$addToSet": "$data.level"}}},
        {"$sort": {"_id": 1}}])
    assert out == [
        {"_id": "d1", "n": 2, "total": 3, "avg": 1.5, "lo": 1, "hi": 2, "first": 7, "last": 7,
         "all": [1, 2], "levels": [7]},
        {"_id": "d2", "n": 1, "total": 3, "avg": 3.0, "lo": 3, "hi": 3, "first": 3, "last": 3,
         "all": [3], "levels": [3]}]


def test_group_by_an_object_and_count() -> None:
    out = run_pipeline(DOCS, [{"$group": {"_id": {"site": "$data.meta.site"},
                                          "n": {"$sum": 1}}}, {"$sort": {"n": -1}}])
    assert out == [{"_id": {"site": "north"}, "n": 2}, {"_id": {"site": "south"}, "n": 1}]
    assert run_pipeline(DOCS, [{"$match": {"data.device": "d1"}}, {"$count": "d1s"}]) == [
        {"d1s": 2}]


@pytest.mark.parametrize("pipeline, says", [
    ([{"$lookup": {}}], "unsupported stage '$lookup'"),
    ([{"$match": {"data.level": {"$near": 1}}}], "unsupported operator '$near'"),
    ([{"$match": {"$where": "1"}}], "unsupported operator '$where'"),
    ([{"$group": {"n": {"$sum": 1}}}], "$group needs _id"),
    ([{"$group": {"_id": None, "n": {"$stdDevPop": "$x"}}}], "needs one accumulator"),
    ("not a list", "a pipeline is a list"),
    ([{"$sort": {"x": 2}}], "$sort takes"),
])
def test_unsupported_or_malformed_stages_are_named(pipeline: Any, says: str) -> None:
    with pytest.raises(ViewError, match=says.replace("$", r"\$").replace("(", r"\(")):
        run_pipeline(DOCS, pipeline)


def test_substitution_fills_values_and_never_splices_code() -> None:
    pipeline = [{"$match": {"data.device": "${device}", "data.level": {"$gt": "${min}"},
                            "note": "site ${site}"}}]
    filled = substitute(pipeline, {"device": '"; drop table', "min": 5, "site": "north"})
    assert filled == [{"$match": {"data.device": '"; drop table', "data.level": {"$gt": 5},
                                  "note": "site north"}}]
    with pytest.raises(ViewError, match="needs parameter 'device'"):
        substitute(pipeline, {})
