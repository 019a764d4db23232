"""The ``lib.*`` capabilities of one run: HTTP, the data lake, robot state and the log.

One :class:`RunHost` serves one run. It answers the host calls that
``jslibs/helpers.js`` makes through the bridge, keeps the run's report, and
never lets a call outlive the run's deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from runtime import envelopes
from runtime.exceptions import HostCallError, InvalidRecord, StoreError
from runtime.httpcalls import HttpCaller, check_status, prepare
from runtime.records import check_rec_type, check_tags
from runtime.report import RunReport
from runtime.store.base import (
    DEFAULT_PER_PAGE,
    Principal,
    Query,
    Record,
    Store,
    StoreSession,
    WriteRequest,
    new_record,
)

_LEVELS = frozenset({"debug", "info", "warn", "error"})


class RunHost:
    """Serves one run's host calls.

    Args:
        robot_id: whose state ``lib.state`` reads and writes.
        store: resolves tokens.
        session: the run's unit of work on the store.
        http: sends the robot's HTTP requests.
        report: collects the run's log, writes and HTTP calls.
        dry_run: writes are checked and reported but not stored.
    """

    def __init__(self, *, robot_id: str, store: Store, session: StoreSession,
                 http: HttpCaller, report: RunReport, dry_run: bool = False) -> None:
        self._robot_id = robot_id
        self._store = store
        self._session = session
        self._http = http
        self.report = report
        self._dry_run = dry_run
        self._deadline = time.monotonic() + 30.0
        self._principals: dict[str, Principal] = {}
        self._ops: dict[str, Callable[[list[Any]], Any]] = {
            "log": self._log,
            "http": self._http_call,
            "store.write": self._write,
            "store.readById": self._read_by_id,
            "store.readByTags": self._read_by_tags,
            "state.get": lambda a: self._session.state_get(self._robot_id, str(a[0])),
            "state.set": self._state_set,
            "state.delete": lambda a: self._session.state_delete(self._robot_id, str(a[0])),
        }

    def start(self, deadline: float) -> None:
        """Begin the run; no call is served past ``deadline`` (``time.monotonic()``)."""
        self._deadline = deadline

    def handle(self, op: str, args: list[Any]) -> Any:
        """Answer one host call.

        Raises:
            HostCallError: unknown op, the deadline passed, or the call failed.
        """
        handler = self._ops.get(op)
        if handler is None:
            raise HostCallError(f"unknown host call {op!r}")
        if op != "log" and time.monotonic() >= self._deadline:
            raise HostCallError("the run's time is up", js_name="TimeoutError")
        return handler(args)

    # --- log and state ----------------------------------------------------------------

    def _log(self, args: list[Any]) -> None:
        level = str(args[0]) if args[0] in _LEVELS else "info"
        self.report.log(level, str(args[1]))

    def _state_set(self, args: list[Any]) -> None:
        key, value = str(args[0]), args[1] if len(args) > 1 else None
        self._session.state_set(self._robot_id, key, value)

    # --- HTTP --------------------------------------------------------------------------

    def _http_call(self, args: list[Any]) -> Any:
        method, url, headers, body, options = (args + [None] * 5)[:5]
        options = options if isinstance(options, dict) else {}
        request = prepare(str(method or "GET"), url, headers, body)
        timeout_ms = options.get("timeout")
        timeout_s = float(timeout_ms) / 1000 if isinstance(timeout_ms, int | float) else None
        started = time.perf_counter()
        try:
            answer = self._http.send(request, deadline=self._deadline, timeout_s=timeout_s)
        except HostCallError:
            self.report.called(request.method, request.url, None, _ms_since(started))
            raise
        self.report.called(request.method, request.url, answer.status, _ms_since(started))
        if options.get("raw"):
            return {"status": answer.status, "headers": answer.headers, "body": answer.text,
                    "json": answer.value() if answer.is_json else None}
        return check_status(answer, request.url)

    # --- the data lake -----------------------------------------------------------------

    def _principal(self, auth: object) -> Principal:
        token = str(auth or "")
        principal = self._principals.get(token)
        if principal is None:
            principal = self._store.authenticate(token)
            self._principals[token] = principal
        return principal

    def _write(self, args: list[Any]) -> dict[str, Any]:
        auth, rec_type, obj, tags, owners = (args + [None] * 5)[:5]
        try:
            request = WriteRequest(rec_type, obj, tags or (), _owners(owners))
            record = self._store_write(self._principal(auth), request)
        except StoreError as exc:
            return envelopes.failed(str(exc))
        self.report.wrote(record.id, record.rec_type, record.tags)
        return envelopes.ok(envelopes.records_envelope([record]), rec_type=record.rec_type,
                            record_id=record.id)

    def _store_write(self, principal: Principal, request: WriteRequest) -> Record:
        if self._dry_run:
            return new_record(principal, request, int(time.time() * 1000))[0]
        return self._session.write(principal, request)

    def _read_by_id(self, args: list[Any]) -> dict[str, Any]:
        auth, rec_type, record_id = (args + [None] * 3)[:3]
        try:
            record = self._session.get(self._principal(auth), str(rec_type), str(record_id))
        except StoreError as exc:
            return envelopes.failed(str(exc))
        return envelopes.ok(envelopes.records_envelope([record]), rec_type=record.rec_type,
                            record_id=record.id)

    def _read_by_tags(self, args: list[Any]) -> dict[str, Any]:
        auth, rec_type, tags, params = (args + [None] * 4)[:4]
        try:
            query = _query(str(rec_type), tags, params if isinstance(params, dict) else {})
            page = self._session.query(self._principal(auth), query)
        except StoreError as exc:
            return envelopes.failed(str(exc))
        return envelopes.ok(envelopes.page_envelope(page), rec_type=query.rec_type)


def _owners(owners: object) -> tuple[str, ...]:
    """Co-owners as robots give them: a name, a list of names, or ``{users: [...]}``."""
    if isinstance(owners, dict):
        owners = owners.get("users", owners.get("owners", []))
    if isinstance(owners, str):
        owners = [owners]
    if not isinstance(owners, list):
        return ()
    return tuple(str(owner) for owner in owners if owner)


def _query(rec_type: str, tags: object, params: dict[str, Any]) -> Query:
    sort = params.get("sort") or ()
    if isinstance(sort, str):
        sort = tuple(s.strip() for s in sort.split(",") if s.strip())
    try:
        page = int(params.get("page", 1))
        per_page = int(params.get("perPage", DEFAULT_PER_PAGE))
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"page and perPage must be whole numbers: {exc}") from exc
    return Query(rec_type=check_rec_type(rec_type), tags=check_tags(tags), page=page,
                 per_page=per_page, sort=tuple(sort))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
