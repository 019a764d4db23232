"""The ``lib.*`` capabilities of one run: HTTP, the data lake, robot state and the log.

One :class:`RunHost` serves one run. It answers the host calls that
``jslibs/helpers.js`` makes through the bridge, keeps the run's report, and
never lets a call outlive the run's deadline.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from runtime import envelopes
from runtime.exceptions import HostCallError, InvalidRecord, StoreError
from runtime.httpcalls import HttpCaller, check_status, prepare
from runtime.notify import Notifier
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
        dry_run: writes are checked and reported but not stored, notifications
            reported but not sent.
        notifier: sends e-mail, SMS and websocket messages.
    """

    def __init__(self, *, robot_id: str, store: Store, session: StoreSession,
                 http: HttpCaller, report: RunReport, dry_run: bool = False,
                 notifier: Notifier | None = None) -> None:
        self._robot_id = robot_id
        self._store = store
        self._session = session
        self._http = http
        self.report = report
        self._dry_run = dry_run
        self._notifier = notifier or Notifier(None, http)
        self._deadline = time.monotonic() + 30.0
        self._principals: dict[str, Principal] = {}
        # A run killed mid-call has its queued writes performed from another thread.
        self._lock = threading.Lock()
        self._ops: dict[str, Callable[[list[Any]], Any]] = {
            "log": self._log,
            "http": self._http_call,
            "store.write": self._write,
            "store.readById": self._read_by_id,
            "store.readByTags": self._read_by_tags,
            "store.readByView": self._read_by_view,
            "state.get": lambda a: self._session.state_get(self._robot_id, str(a[0])),
            "state.set": self._state_set,
            "state.delete": lambda a: self._session.state_delete(self._robot_id, str(a[0])),
            "notify.email": lambda a: self._notify("email", a, self._send_email),
            "notify.microshareEmail": lambda a: self._notify(
                "email", [self._notifier.default_sender, *a], self._send_email),
            "notify.sms": lambda a: self._notify("sms", a, self._send_sms),
            "notify.ws": lambda a: self._notify("websocket", a, self._send_ws),
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
        with self._lock:
            return handler(args)

    def defer(self, calls: list[tuple[str, list[Any], str | None]]
              ) -> list[Callable[[], Any]]:
        """Perform queued record writes now; each envelope is made only when asked for.

        Raises:
            HostCallError: a call that cannot be queued.
        """
        answers: list[Callable[[], Any]] = []
        with self._lock:
            for auth, requests in _group_writes(calls):
                for outcome in self._write_batch(auth, requests):
                    answers.append(self._later_answer(auth, outcome))
        return answers

    def _later_answer(self, auth: object, outcome: Record | StoreError
                      ) -> Callable[[], dict[str, Any]]:
        """The envelope of a queued write, made on demand. A stored record is read back
        then rather than kept, so a run of many writes holds no record in memory."""
        if isinstance(outcome, StoreError) or self._dry_run:
            return _write_answer(outcome)
        rec_type, record_id = outcome.rec_type, outcome.id

        def answer() -> dict[str, Any]:
            with self._lock:
                record = self._session.get(self._principal(auth), rec_type, record_id,
                                           check_access=False)
            return _write_answer(record)()

        return answer

    # --- log and state ----------------------------------------------------------------

    def _log(self, args: list[Any]) -> None:
        level = str(args[0]) if args[0] in _LEVELS else "info"
        self.report.log(level, str(args[1]))

    def _state_set(self, args: list[Any]) -> None:
        key, value = str(args[0]), args[1] if len(args) > 1 else None
        self._session.state_set(self._robot_id, key, value)

    # --- notifications ---------------------------------------------------------------

    def _notify(self, kind: str, args: list[Any], send: Callable[[list[Any]], None]
                ) -> dict[str, Any]:
        """Send (or, in a dry run, only report) one notification; answer an envelope."""
        self.report.notified(kind, [str(a) if a is not None else "" for a in args],
                             sent=not self._dry_run)
        if self._dry_run:
            return {"err": 0, "msg": "Success (dry run: not sent)"}
        try:
            send(args)
        except HostCallError as exc:
            return envelopes.failed(exc.message)
        return {"err": 0, "msg": "Success"}

    def _send_email(self, args: list[Any]) -> None:
        sender, to, subject, body = (args + [""] * 4)[:4]
        self._notifier.email(str(sender), to, str(subject), str(body),
                             deadline=self._deadline)

    def _send_sms(self, args: list[Any]) -> None:
        sender, to, text, sid, token = (args + [""] * 5)[:5]
        self._notifier.sms(str(sender), str(to), str(text), str(sid), str(token),
                           deadline=self._deadline)

    def _send_ws(self, args: list[Any]) -> None:
        uri, message = (args + ["", ""])[:2]
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        self._notifier.ws_message(str(uri), text, deadline=self._deadline)

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
        [(auth, requests)] = _group_writes([("store.write", args, None)])
        [outcome] = self._write_batch(auth, requests)
        return _write_answer(outcome)()

    def _write_batch(self, auth: object, requests: list[WriteRequest]
                     ) -> list[Record | StoreError]:
        """Write records of one token; each comes back as its record or its error."""
        try:
            principal = self._principal(auth)
        except StoreError as exc:
            return [exc] * len(requests)
        if self._dry_run:
            outcomes = [_dry_write(principal, request) for request in requests]
        else:
            outcomes = self._session.write_many(principal, requests)
        for outcome in outcomes:
            if isinstance(outcome, Record):
                self.report.wrote(outcome.id, outcome.rec_type, outcome.tags)
        return outcomes

    def _read_by_id(self, args: list[Any]) -> dict[str, Any]:
        auth, rec_type, record_id = (args + [None] * 3)[:3]
        try:
            record = self._session.get(self._principal(auth), str(rec_type), str(record_id))
        except StoreError as exc:
            return envelopes.failed(str(exc))
        return envelopes.ok(envelopes.records_envelope([record]), rec_type=record.rec_type,
                            record_id=record.id)

    def _read_by_view(self, args: list[Any]) -> dict[str, Any]:
        auth, rec_type, view_id, params = (args + [None] * 4)[:4]
        try:
            principal = self._principal(auth)
            view = self._store.get_view(str(view_id), principal.user)
            docs = self._session.run_view(principal, check_rec_type(rec_type), view,
                                          _params(params))
        except StoreError as exc:
            return envelopes.failed(str(exc))
        return {**envelopes.ok(envelopes.docs_envelope(docs), rec_type=str(rec_type)),
                "viewId": str(view_id)}

    def _read_by_tags(self, args: list[Any]) -> dict[str, Any]:
        auth, rec_type, tags, params = (args + [None] * 4)[:4]
        try:
            query = _query(str(rec_type), tags, params if isinstance(params, dict) else {})
            page = self._session.query(self._principal(auth), query)
        except StoreError as exc:
            return envelopes.failed(str(exc))
        return envelopes.ok(envelopes.page_envelope(page), rec_type=query.rec_type)


def _params(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _group_writes(calls: list[tuple[str, list[Any], str | None]]
                  ) -> list[tuple[object, list[WriteRequest]]]:
    """Split ``store.write`` calls into runs of the same token, order kept.

    A call's arguments are ``[auth, recType, tags, owners, data]``; a queued call
    brings ``data`` as JSON text apart from the others.
    """
    groups: list[tuple[object, list[WriteRequest]]] = []
    last_args: list[Any] | None = None
    for op, args, data_text in calls:
        if op != "store.write":
            raise HostCallError(f"host call {op!r} cannot be queued")
        if args is not last_args:  # queued writes of a loop share one argument list
            last_args = args
            auth, rec_type, tags, owners, data = (args + [None] * 5)[:5]
            tags = tuple(tags) if isinstance(tags, list) else tags
            co_owners = _owners(owners)
        if data_text is not None:
            data = json.loads(data_text)
        request = WriteRequest(rec_type, data, tags, co_owners)
        if groups and groups[-1][0] == auth:
            groups[-1][1].append(request)
        else:
            groups.append((auth, [request]))
    return groups


def _write_answer(outcome: Record | StoreError) -> Callable[[], dict[str, Any]]:
    if isinstance(outcome, StoreError):
        message = str(outcome)
        return lambda: envelopes.failed(message)
    return lambda: envelopes.ok(envelopes.records_envelope([outcome]),
                                rec_type=outcome.rec_type, record_id=outcome.id)


def _dry_write(principal: Principal, request: WriteRequest) -> Record | StoreError:
    try:
        return new_record(principal, request, int(time.time() * 1000))[0]
    except StoreError as exc:
        return exc


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
