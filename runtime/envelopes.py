"""Records and envelopes as robots and API clients see them (ROBOT_API.md §3–§5). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtime.store.base import Page, Record


def record_json(record: Record, *, details: bool = True) -> dict[str, Any]:
    """Return the JSON object of one record; without ``details`` it has no ``data``."""
    doc: dict[str, Any] = {
        "id": record.id,
        "_id": {"$oid": record.id},
        "recType": record.rec_type,
        "tags": list(record.tags),
        "createDate": {"$date": record.create_ms},
        "tstamp": {"$numberLong": str(record.create_ms)},
        "creatorId": record.creator,
        "updaterId": record.creator,
        "owner": {"user": record.owner, "org": record.org, "appid": ""},
        "checksum": record.checksum,
        "name": "",
        "desc": "",
    }
    if record.co_owners:
        doc["coOwners"] = list(record.co_owners)
    if details:
        doc["data"] = record.data
    return doc


def meta(total_count: int, page: int, per_page: int, current_count: int) -> dict[str, int]:
    """Return the ``meta`` object of a read envelope."""
    return {
        "totalPages": max(1, -(-total_count // per_page)),
        "currentPage": page,
        "perPage": per_page,
        "totalCount": total_count,
        "currentCount": current_count,
    }


def page_envelope(page: Page, *, details: bool = True) -> dict[str, Any]:
    """Return ``{meta, objs}`` for one page of records (the REST API's shape)."""
    objs = [record_json(r, details=details) for r in page.records]
    return {"meta": meta(page.total_count, page.page, page.per_page, len(objs)), "objs": objs}


def records_envelope(records: Sequence[Record]) -> dict[str, Any]:
    """Return ``{meta, objs}`` for a few records shown whole (a write, one read)."""
    count = len(records)
    return {"meta": meta(count, 1, max(count, 1), count),
            "objs": [record_json(r) for r in records]}


def docs_envelope(docs: Sequence[Any]) -> dict[str, Any]:
    """Return ``{meta, objs}`` for a view's result documents."""
    count = len(docs)
    return {"meta": meta(count, 1, max(count, 1), count), "objs": list(docs)}


def ok(body: dict[str, Any], *, rec_type: str, record_id: str = "") -> dict[str, Any]:
    """Return a robot helper's success envelope around ``{meta, objs}``."""
    return {"err": 0, "msg": "Success", **body, "id": record_id, "recType": rec_type}


def failed(message: str) -> dict[str, Any]:
    """Return a robot helper's failure envelope."""
    return {"err": 1, "msg": message}
