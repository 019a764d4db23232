"""Views: MongoDB-style aggregation pipelines over records. Pure: no I/O.

A pipeline is a list of stages, each ``{"$stage": spec}``, applied to documents
(records as ROBOT_API.md §4 shows them). :func:`substitute` fills ``${name}``
placeholders from parameters by walking the parsed pipeline, so a value can never
become code. :func:`run_pipeline` runs the stages in Python; the store runs a
leading ``$match``/``$sort``/``$limit`` itself when it can (``store/sqlite_views.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import cmp_to_key
from typing import Any

from runtime.exceptions import InvalidRecord
from runtime.records import check_rec_type
from runtime.store.base import View

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
_VIEW_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_MISSING = object()


class ViewError(InvalidRecord):
    """A pipeline that cannot run: an unknown stage or operator, a bad argument."""


def substitute(value: Any, params: dict[str, Any]) -> Any:
    """Replace ``${name}`` in the pipeline's strings with ``params[name]``.

    A string that is exactly one placeholder becomes the parameter's value (a number
    stays a number); inside a longer string it becomes text.

    Raises:
        ViewError: a placeholder names no parameter.
    """
    if isinstance(value, dict):
        return {substitute(k, params): substitute(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, params) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole is not None:
        return _param(params, whole.group(1))
    return _PLACEHOLDER.sub(lambda m: str(_param(params, m.group(1))), value)


def _param(params: dict[str, Any], name: str) -> Any:
    if name not in params:
        raise ViewError(f"the view needs parameter {name!r}")
    return params[name]


def view_from_json(view_id: str, body: Any, *, owner: str | None) -> View:
    """A view from ``{recType, pipeline}`` or ``{static}``.

    Raises:
        InvalidRecord: neither, or a pipeline that is not a list of known stages.
    """
    if not isinstance(body, dict) or ("pipeline" in body) == ("static" in body):
        raise InvalidRecord("a view is {\"recType\", \"pipeline\": [...]} or "
                            "{\"static\": ...}")
    if not _VIEW_ID.match(view_id):
        raise InvalidRecord(f"invalid view id {view_id!r}: 1-100 characters of "
                            "A-Z a-z 0-9 . _ -")
    if "static" in body:
        return View(view_id, body.get("recType"), None, body["static"], owner)
    rec_type = body.get("recType")
    if rec_type is not None:
        check_rec_type(rec_type)
    return View(view_id, rec_type, tuple(check_pipeline(body["pipeline"])), None, owner)


def run_pipeline(docs: Iterable[dict[str, Any]], pipeline: list[Any]) -> list[Any]:
    """Run ``pipeline`` over ``docs``.

    Raises:
        ViewError: an unknown stage or operator, or a malformed stage.
    """
    stream: Iterable[Any] = docs
    for index, stage in enumerate(check_pipeline(pipeline)):
        name, spec = next(iter(stage.items()))
        stream = _STAGES[name](stream, spec, f"stage {index + 1} ({name})")
    return list(stream)


def check_pipeline(pipeline: Any) -> list[dict[str, Any]]:
    """The pipeline, checked to be a list of one-key stages that exist.

    Raises:
        ViewError: it is not.
    """
    if not isinstance(pipeline, list):
        raise ViewError("a pipeline is a list of stages")
    for index, stage in enumerate(pipeline):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise ViewError(f"stage {index + 1}: a stage is one {{\"$name\": spec}}")
        name = next(iter(stage))
        if name not in _STAGES:
            raise ViewError(f"stage {index + 1}: unsupported stage {name!r} (supported: "
                            f"{', '.join(sorted(_STAGES))})")
    return pipeline


# --- paths and values ---------------------------------------------------------------------

def get_path(doc: Any, path: str) -> Any:
    """The value at a dotted path (``data.meta.device``), or a missing marker."""
    value = doc
    for key in path.split("."):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
    return value


def _plain(value: Any) -> Any:
    """Dates and long numbers as their numbers, for comparing and sorting."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key in ("$date", "$numberLong"):
            try:
                return float(value[key])
            except (TypeError, ValueError):
                return value
    return value


_TYPE_ORDER = {type(None): 1, int: 2, float: 2, str: 3, dict: 4, list: 5, bool: 6}


def compare(a: Any, b: Any) -> int:
    """MongoDB's order: missing/null < numbers < strings < objects < arrays < booleans."""
    a, b = _plain(a), _plain(b)
    a = None if a is _MISSING else a
    b = None if b is _MISSING else b
    rank_a, rank_b = _TYPE_ORDER.get(type(a), 7), _TYPE_ORDER.get(type(b), 7)
    if rank_a != rank_b:
        return -1 if rank_a < rank_b else 1
    if isinstance(a, dict | list):
        a, b = repr(a), repr(b)
    if a == b:
        return 0
    return -1 if a < b else 1


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(value, list) and not isinstance(wanted, list):
        return any(_equal(v, wanted) for v in value)
    return compare(value, wanted) == 0 and (value is not _MISSING or wanted is None)


# --- $match ---------------------------------------------------------------------------

def matches(doc: Any, query: Any, where: str = "$match") -> bool:
    """Whether ``doc`` satisfies a ``$match`` query."""
    if not isinstance(query, dict):
        raise ViewError(f"{where}: a query is an object")
    for key, condition in query.items():
        if key == "$and":
            if not all(matches(doc, q, where) for q in _list(condition, where, key)):
                return False
        elif key == "$or":
            if not any(matches(doc, q, where) for q in _list(condition, where, key)):
                return False
        elif key.startswith("$"):
            raise ViewError(f"{where}: unsupported operator {key!r}")
        elif not _field_matches(get_path(doc, key), condition, where):
            return False
    return True


def _list(value: Any, where: str, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ViewError(f"{where}: {key} takes a list")
    return value


def _field_matches(value: Any, condition: Any, where: str) -> bool:
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        return all(_operator(value, op, arg, where) for op, arg in condition.items())
    return _equal(value, condition)


def _operator(value: Any, op: str, arg: Any, where: str) -> bool:
    candidates = value if isinstance(value, list) else [value]
    if op == "$eq":
        return _equal(value, arg)
    if op == "$ne":
        return not _equal(value, arg)
    if op in _ORDERED:
        return any(v is not _MISSING and _same_kind(v, arg) and _ORDERED[op](compare(v, arg))
                   for v in candidates)
    if op == "$in":
        return any(_equal(value, a) for a in _list(arg, where, op))
    if op == "$nin":
        return not any(_equal(value, a) for a in _list(arg, where, op))
    if op == "$all":
        return isinstance(value, list) and all(_equal(value, a) for a in _list(arg, where, op))
    if op == "$exists":
        return (value is not _MISSING) == bool(arg)
    if op == "$regex":
        return any(isinstance(v, str) and re.search(str(arg), v) is not None for v in candidates)
    if op == "$not":
        return not _field_matches(value, arg, where)
    raise ViewError(f"{where}: unsupported operator {op!r}")


_ORDERED: dict[str, Callable[[int], bool]] = {
    "$gt": lambda c: c > 0, "$gte": lambda c: c >= 0, "$lt": lambda c: c < 0,
    "$lte": lambda c: c <= 0}


def _same_kind(a: Any, b: Any) -> bool:
    return _TYPE_ORDER.get(type(_plain(a)), 7) == _TYPE_ORDER.get(type(_plain(b)), 7)


# --- the other stages ---------------------------------------------------------------------

def _match(docs: Iterable[Any], spec: Any, where: str) -> Iterator[Any]:
    matches({}, spec, where)  # check the query once, even over no documents
    return (doc for doc in docs if matches(doc, spec, where))


def _sort(docs: Iterable[Any], spec: Any, where: str) -> list[Any]:
    if not isinstance(spec, dict) or not spec or any(v not in (1, -1) for v in spec.values()):
        raise ViewError(f"{where}: $sort takes {{field: 1 or -1, ...}}")

    def order(a: Any, b: Any) -> int:
        for path, direction in spec.items():
            result = compare(get_path(a, path), get_path(b, path))
            if result:
                return int(result * direction)
        return 0

    return sorted(docs, key=cmp_to_key(order))


def _count_arg(spec: Any, where: str) -> int:
    if isinstance(spec, bool) or not isinstance(spec, int) or spec < 0:
        raise ViewError(f"{where}: takes a whole number, 0 or more")
    return spec


def _skip(docs: Iterable[Any], spec: Any, where: str) -> list[Any]:
    return list(docs)[_count_arg(spec, where):]


def _limit(docs: Iterable[Any], spec: Any, where: str) -> list[Any]:
    return list(docs)[:_count_arg(spec, where)]


def evaluate(doc: Any, expression: Any, where: str) -> Any:
    """An expression's value: ``"$path"``, a literal, an object of expressions."""
    if isinstance(expression, str) and expression.startswith("$"):
        value = get_path(doc, expression[1:])
        return None if value is _MISSING else value
    if isinstance(expression, dict):
        if any(k.startswith("$") for k in expression):
            raise ViewError(f"{where}: unsupported expression operator "
                            f"{next(k for k in expression if k.startswith('$'))!r}")
        return {k: evaluate(doc, v, where) for k, v in expression.items()}
    return expression


def _project(docs: Iterable[Any], spec: Any, where: str) -> Iterator[Any]:
    if not isinstance(spec, dict) or not spec:
        raise ViewError(f"{where}: $project takes {{field: 0 | 1 | \"$path\", ...}}")
    excluding = [k for k, v in spec.items() if v in (0, False) and k != "_id"]
    including = {k: v for k, v in spec.items() if v not in (0, False)}
    if excluding and including:
        raise ViewError(f"{where}: $project cannot mix inclusion and exclusion")
    for doc in docs:
        if excluding or not including:
            out = dict(doc)
            for path in excluding + (["_id"] if spec.get("_id") in (0, False) else []):
                _delete_path(out, path)
            yield out
            continue
        out = {} if spec.get("_id") in (0, False) or "_id" not in doc else {"_id": doc["_id"]}
        for path, value in including.items():
            picked = get_path(doc, path) if value in (1, True) else evaluate(doc, value, where)
            if picked is not _MISSING:
                _set_path(out, path, picked)
        yield out


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        doc = doc.setdefault(key, {})
    doc[keys[-1]] = value


def _delete_path(doc: dict[str, Any], path: str) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        inner = doc.get(key)
        if not isinstance(inner, dict):
            return
        doc[key] = inner = dict(inner)
        doc = inner
    doc.pop(keys[-1], None)


def _unwind(docs: Iterable[Any], spec: Any, where: str) -> Iterator[Any]:
    path = spec.get("path") if isinstance(spec, dict) else spec
    if not isinstance(path, str) or not path.startswith("$"):
        raise ViewError(f"{where}: $unwind takes \"$path\" or {{path: \"$path\"}}")
    for doc in docs:
        values = get_path(doc, path[1:])
        if not isinstance(values, list):
            if values is not _MISSING and values is not None:
                yield doc
            continue
        for value in values:
            out = dict(doc)
            _copy_and_set(out, path[1:], value)
            yield out


def _copy_and_set(doc: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        doc[key] = dict(doc.get(key) or {})
        doc = doc[key]
    doc[keys[-1]] = value


_ACCUMULATORS = ("$sum", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet")


def _group(docs: Iterable[Any], spec: Any, where: str) -> list[Any]:
    if not isinstance(spec, dict) or "_id" not in spec:
        raise ViewError(f"{where}: $group needs _id")
    fields = {k: v for k, v in spec.items() if k != "_id"}
    for name, acc in fields.items():
        if not isinstance(acc, dict) or len(acc) != 1 or next(iter(acc)) not in _ACCUMULATORS:
            raise ViewError(f"{where}: field {name!r} needs one accumulator of "
                            f"{', '.join(_ACCUMULATORS)}")
    groups: dict[str, tuple[Any, dict[str, list[Any]]]] = {}
    for doc in docs:
        key = evaluate(doc, spec["_id"], where)
        slot = groups.setdefault(repr(key), (key, {name: [] for name in fields}))
        for name, acc in fields.items():
            op, expression = next(iter(acc.items()))
            slot[1][name].append(evaluate(doc, expression, where))
    return [{"_id": key, **{name: _accumulate(next(iter(fields[name])), values)
                            for name, values in collected.items()}}
            for key, collected in groups.values()]


def _accumulate(op: str, values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    present = [v for v in values if v is not None]
    if op == "$sum":
        return sum(numbers)
    if op == "$avg":
        return sum(numbers) / len(numbers) if numbers else None
    if op == "$min":
        return min(present, key=cmp_to_key(compare)) if present else None
    if op == "$max":
        return max(present, key=cmp_to_key(compare)) if present else None
    if op == "$first":
        return values[0] if values else None
    if op == "$last":
        return values[-1] if values else None
    if op == "$push":
        return values
    unique: list[Any] = []
    for value in values:
        if all(compare(value, seen) != 0 for seen in unique):
            unique.append(value)
    return unique


def _count(docs: Iterable[Any], spec: Any, where: str) -> list[Any]:
    if not isinstance(spec, str) or not spec or spec.startswith("$") or "." in spec:
        raise ViewError(f"{where}: $count takes a field name")
    return [{spec: sum(1 for _ in docs)}]


_STAGES: dict[str, Callable[[Iterable[Any], Any, str], Iterable[Any]]] = {
    "$match": _match, "$sort": _sort, "$skip": _skip, "$limit": _limit,
    "$project": _project, "$unwind": _unwind, "$group": _group, "$count": _count,
}
