"""Pure rules for records (ROBOT_API.md §4): ids, names, checksums. No I/O."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from typing import Any

from runtime.exceptions import InvalidRecord

_REC_TYPE = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_TAG = re.compile(r"^[^/\x00-\x1f\x7f]{1,200}$")
_ID = re.compile(r"^[0-9a-f]{24}$")
# Robots write the same few recTypes and tag lists over and over: remember good ones.
_good_tags: dict[tuple[Any, ...], tuple[str, ...]] = {}
_good_rec_types: set[object] = set()

_process_tag = secrets.randbits(24)
_counter = itertools.count(secrets.randbits(16))
_id_lock = threading.Lock()


def new_id(now_ms: int | None = None) -> str:
    """Return a new record id: 24 lower-case hex digits, ordered by creation time.

    48 bits of milliseconds, 24 random bits fixed per process, 24 bits of a
    per-process counter (so ids made in one process in one millisecond still order).
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _id_lock:
        seq = next(_counter) & 0xFFFFFF
    return f"{ms & 0xFFFFFFFFFFFF:012x}{_process_tag:06x}{seq:06x}"


def stored_id(now_ms: int, seq: int) -> str:
    """The id of a stored record: 48 bits of milliseconds, then its 48-bit store number.

    Time-ordered, unique (store numbers are never reused), and the store finds the
    record from the id alone (:func:`seq_of`), with no index of ids.
    """
    return f"{now_ms & 0xFFFFFFFFFFFF:012x}{seq & 0xFFFFFFFFFFFF:012x}"


def seq_of(record_id: str) -> int:
    """The store number inside an id made by :func:`stored_id`."""
    return int(record_id[12:], 16)


def check_rec_type(rec_type: object) -> str:
    """Return ``rec_type`` if it is 1–200 characters of ``A-Z a-z 0-9 . _ -``.

    Raises:
        InvalidRecord: it is not.
    """
    if isinstance(rec_type, str) and rec_type in _good_rec_types:
        return rec_type
    if not isinstance(rec_type, str) or not _REC_TYPE.match(rec_type):
        raise InvalidRecord(
            f"invalid recType {rec_type!r}: use 1-200 characters of A-Z a-z 0-9 . _ -")
    if len(_good_rec_types) < 4096:
        _good_rec_types.add(rec_type)
    return rec_type


def check_tags(tags: object) -> tuple[str, ...]:
    """Return the tags as a tuple (duplicates dropped, order kept).

    Raises:
        InvalidRecord: not a list of 1–200 character strings without ``/``.
    """
    if tags is None:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    if isinstance(tags, tuple) and tags in _good_tags:
        return _good_tags[tags]
    if not isinstance(tags, list | tuple):
        raise InvalidRecord(f"tags must be a list of strings, got {type(tags).__name__}")
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise InvalidRecord(
                f"invalid tag {tag!r}: use 1-200 characters, no '/' or control characters")
    checked = tuple(dict.fromkeys(tags))
    if len(_good_tags) < 4096:
        _good_tags[tuple(tags)] = checked
    return checked


def check_id(record_id: object) -> str:
    """Return ``record_id`` if it is 24 lower-case hex digits.

    Raises:
        InvalidRecord: it is not.
    """
    if not isinstance(record_id, str) or not _ID.match(record_id):
        raise InvalidRecord(f"invalid id {record_id!r}: expected 24 lower-case hex digits")
    return record_id


# Encoders made once: json.dumps with options builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def canonical_json(data: Any) -> str:
    """Return the canonical JSON text of ``data`` (sorted keys, no spaces)."""
    return _CANONICAL.encode(data)


def compact_json(data: Any) -> str:
    """Return ``data`` as compact JSON text, keys in their own order."""
    return _COMPACT.encode(data)


def checksum(canonical: str) -> str:
    """Return the sha256 hex digest of a record's canonical data text."""
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def org_of(user: str) -> str:
    """Return the organisation of an identity: the domain of an e-mail-like name."""
    return user.rpartition("@")[2] if "@" in user else user


_INT_TEXT = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_FLOAT_TEXT = re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")


def typed_text(value: str) -> Any:
    """Text from a CSV cell or a query string as JSON would have it: whole and decimal
    numbers as numbers, ``true``/``false``/``null`` as such, the rest as text."""
    if _INT_TEXT.match(value):
        return int(value)
    if _FLOAT_TEXT.match(value):
        return float(value)
    return {"true": True, "false": False, "null": None}.get(value, value)
