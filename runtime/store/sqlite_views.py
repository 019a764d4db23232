"""A view's pipeline, as far as SQLite can run it exactly. Builds SQL; no I/O.

The leading ``$match`` stages whose every condition translates exactly (MongoDB's
meaning included: a comparison also matches inside an array) become WHERE; a
following ``$sort`` on the creation time or id becomes ORDER BY (store numbers
follow creation time), then ``$skip``/``$limit`` become OFFSET/LIMIT. What is left
runs in Python. When what is left is ``$match`` stages and then ``$group`` or
``$count``, only the fields those stages read are fetched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_NUMBER = ("integer", "real")
_DATA_PATH = re.compile(r"^data((?:\.[A-Za-z0-9_$@-]+)+)$")
_TIME_FIELDS = ("createDate", "tstamp", "id", "_id")


@dataclass
class Plan:
    """How a pipeline splits between SQLite and Python."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    order: str = "r.seq ASC"
    limit: int | None = None
    offset: int = 0
    rest: list[dict[str, Any]] = field(default_factory=list)
    fields: list[str] | None = None  # None: whole records


def plan(pipeline: list[dict[str, Any]]) -> Plan:
    """Split ``pipeline`` (already checked) into SQL and the rest."""
    result = Plan()
    index = 0
    while index < len(pipeline) and "$match" in pipeline[index]:
        translated = _match(pipeline[index]["$match"])
        if translated is None:
            break
        result.where.append(translated[0])
        result.params.extend(translated[1])
        index += 1
    if index and index < len(pipeline) and "$sort" in pipeline[index]:
        order = _order(pipeline[index]["$sort"])
        if order is not None:
            result.order = order
            index += 1
            index = _paging(pipeline, index, result)
    result.rest = pipeline[index:]
    result.fields = _needed_fields(result.rest)
    return result


def _paging(pipeline: list[dict[str, Any]], index: int, result: Plan) -> int:
    while index < len(pipeline):
        stage = pipeline[index]
        if "$skip" in stage and result.limit is None:
            result.offset += int(stage["$skip"])
        elif "$limit" in stage:
            limit = int(stage["$limit"])
            result.limit = limit if result.limit is None else min(result.limit, limit)
        else:
            break
        index += 1
    return index


def _order(spec: dict[str, Any]) -> str | None:
    if len(spec) != 1:
        return None
    name, direction = next(iter(spec.items()))
    if name not in _TIME_FIELDS or direction not in (1, -1):
        return None
    return f"r.seq {'ASC' if direction == 1 else 'DESC'}"


def _match(query: Any) -> tuple[str, list[Any]] | None:
    if not isinstance(query, dict):
        return None
    clauses, params = [], []
    for key, condition in query.items():
        if key == "$and" and isinstance(condition, list):
            parts = [_match(q) for q in condition]
            if any(p is None for p in parts):
                return None
            for part in parts:
                assert part is not None
                clauses.append(f"({part[0]})")
                params.extend(part[1])
            continue
        translated = _condition(key, condition)
        if translated is None:
            return None
        clauses.append(translated[0])
        params.extend(translated[1])
    return (" AND ".join(clauses) or "1"), params


_OPS = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _condition(key: str, condition: Any) -> tuple[str, list[Any]] | None:
    operators = condition if isinstance(condition, dict) and condition and all(
        k.startswith("$") for k in condition) else {"$eq": condition}
    clauses, params = [], []
    for op, arg in operators.items():
        values = arg if op == "$in" and isinstance(arg, list) else [arg]
        sql_op = "=" if op == "$in" else _OPS.get(op)
        if sql_op is None:
            return None
        ors = []
        for value in values:
            part = _compare(key, sql_op, value)
            if part is None:
                return None
            ors.append(part[0])
            params.extend(part[1])
        clauses.append("(" + " OR ".join(ors) + ")")
    return " AND ".join(clauses), params


def _compare(key: str, op: str, value: Any) -> tuple[str, list[Any]] | None:
    if key == "recType":
        return ("r.rec_type = ?", [value]) if op == "=" and isinstance(value, str) else None
    if key in ("createDate", "tstamp"):
        number = value.get("$date", value.get("$numberLong")) if isinstance(value, dict) \
            else value
        if isinstance(number, bool) or not isinstance(number, int | float | str):
            return None
        try:
            return f"r.created_ms {op} ?", [float(number)]
        except ValueError:
            return None
    path = _DATA_PATH.match(key)
    if path is None:
        return None
    kinds = _kinds(value)
    if kinds is None:
        return None
    json_path = _json_path(path.group(1)[1:].split("."))
    kind_list = ", ".join(f"'{k}'" for k in kinds)
    sql_value = value if not isinstance(value, bool) else None
    cmp = "= ?" if isinstance(value, bool) else f"{op} ?"
    scalar = f"(json_type(r.data, '{json_path}') IN ({kind_list})" + (
        ")" if isinstance(value, bool) else f" AND json_extract(r.data, '{json_path}') {cmp})")
    inside = (f"(json_type(r.data, '{json_path}') = 'array' AND EXISTS (SELECT 1 FROM "
              f"json_each(r.data, '{json_path}') WHERE type IN ({kind_list})"
              + ("" if isinstance(value, bool) else f" AND value {cmp}") + "))")
    params = [] if isinstance(value, bool) else [sql_value, sql_value]
    if isinstance(value, bool) and op != "=":
        return None
    return f"({scalar} OR {inside})", params


def _kinds(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, bool):
        return ("true",) if value else ("false",)
    if isinstance(value, int | float):
        return _NUMBER
    if isinstance(value, str):
        return ("text",)
    return None


def _json_path(keys: list[str]) -> str:
    return "$" + "".join(f'."{k}"' for k in keys)


def _needed_fields(rest: list[dict[str, Any]]) -> list[str] | None:
    """The record fields the rest reads, when it ends in $group or $count."""
    paths: set[str] = set()
    for stage in rest:
        name, spec = next(iter(stage.items()))
        if name == "$match":
            paths.update(_query_paths(spec))
        elif name == "$group":
            paths.update(_expression_paths(spec))
            return sorted(paths)
        elif name == "$count":
            return sorted(paths)
        else:
            return None
    return None


def _query_paths(query: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(query, dict):
        for key, value in query.items():
            if key in ("$and", "$or") and isinstance(value, list):
                for part in value:
                    found |= _query_paths(part)
            elif not key.startswith("$"):
                found.add(key)
    return found


def _expression_paths(value: Any) -> set[str]:
    if isinstance(value, str) and value.startswith("$"):
        return {value[1:]}
    if isinstance(value, dict):
        return set().union(*(_expression_paths(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_expression_paths(v) for v in value)) if value else set()
    return set()


_COLUMNS = {"recType": "r.rec_type", "id": "r.id", "creatorId": "r.creator",
            "updaterId": "r.creator"}


def field_columns(fields: list[str]) -> list[str] | None:
    """SQL that fetches each field as JSON text, or None if a field cannot be."""
    columns = []
    for name in fields:
        if name in _COLUMNS:
            columns.append(f"json_quote({_COLUMNS[name]})")
        elif name in ("createDate", "tstamp"):
            columns.append("json_object('$date', r.created_ms)")
        elif name == "tags":
            columns.append("r.tags")
        elif _DATA_PATH.match(name):
            columns.append(f"r.data -> '{_json_path(name.split('.')[1:])}'")
        elif name == "data":
            columns.append("r.data")
        else:
            return None
    return columns


def field_doc(fields: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    """A document holding only ``fields`` (missing ones left out)."""
    doc: dict[str, Any] = {}
    for name, text in zip(fields, row, strict=True):
        if text is None:
            continue
        keys = name.split(".")
        target = doc
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = json.loads(text)
    return doc


def group_sql(spec: dict[str, Any]) -> tuple[str, list[tuple[str, str]]] | None:
    """A ``$group`` SQLite can run exactly: ``_id`` null, ``"$recType"`` or ``"$data..."``;
    ``$sum`` of a number or a data path, ``$avg`` of a data path.

    Returns:
        The group key's SQL and ``(field, aggregate SQL)`` pairs; None otherwise.
    """
    key = _group_key(spec.get("_id", _NO_KEY))
    if key is None:
        return None
    aggregates = []
    for name, accumulator in spec.items():
        if name == "_id":
            continue
        if not isinstance(accumulator, dict) or len(accumulator) != 1:
            return None
        op, argument = next(iter(accumulator.items()))
        sql = _aggregate(op, argument)
        if sql is None:
            return None
        aggregates.append((name, sql))
    return key, aggregates


_NO_KEY = object()


def _group_key(expression: Any) -> str | None:
    if expression is None:
        return "'null'"
    if expression == "$recType":
        return "json_quote(r.rec_type)"
    if isinstance(expression, str) and expression.startswith("$"):
        path = _DATA_PATH.match(expression[1:])
        if path is not None:
            # Missing and null group together, as the Python engine has it.
            return f"coalesce(r.data -> '{_json_path(path.group(1)[1:].split('.'))}', 'null')"
    return None


def _aggregate(op: str, argument: Any) -> str | None:
    if op == "$sum" and isinstance(argument, int | float) and not isinstance(argument, bool):
        return f"count(*) * {argument!r}"
    if not isinstance(argument, str) or not argument.startswith("$"):
        return None
    path = _DATA_PATH.match(argument[1:])
    if path is None or op not in ("$sum", "$avg"):
        return None
    json_path = _json_path(path.group(1)[1:].split("."))
    number = (f"CASE WHEN json_type(r.data, '{json_path}') IN ('integer', 'real') "
              f"THEN json_extract(r.data, '{json_path}') END")
    return f"coalesce(sum({number}), 0)" if op == "$sum" else f"avg({number})"
