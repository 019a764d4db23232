"""The share REST API (ROBOT_API.md §5): HTTP in, store calls out. No SQL here.

Every answer is JSON: a read envelope ``{meta, objs}``, or ``{"error": ...}`` with
a 4xx/5xx status. A write is answered 201 only after it is committed (through
:class:`GroupWriter`). The same application is served alone by ``robot server``
and mounted by the daemon.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from runtime import envelopes
from runtime.access import PASSWORD_TOKEN_TTL_MS
from runtime.exceptions import (
    Forbidden,
    InvalidRecord,
    NotAuthenticated,
    RecordNotFound,
    StoreError,
)
from runtime.records import check_rec_type, check_tags, typed_text
from runtime.store.base import DEFAULT_PER_PAGE, Principal, Query, Store, WriteRequest
from runtime.views import view_from_json
from runtime.writer import GroupWriter

DEFAULT_MAX_BODY_BYTES = 1 << 20
KNOWN_SCOPES = frozenset({"ALL:ALL", "SHARE:ALL", "SHARE:READ", "SHARE:WRITE", "ALL:READ",
                          "ALL:WRITE"})

_STATUS_OF = {NotAuthenticated: 401, Forbidden: 403, RecordNotFound: 404, InvalidRecord: 400}


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


def error(status: int, message: str) -> JSONResponse:
    """The API's error answer."""
    return JSONResponse({"error": message}, status_code=status)


def create_app(store: Store, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """Build the share API over ``store``.

    Args:
        store: the data lake served.
        max_body_bytes: the largest request body accepted (413 past it).
    """
    writer: GroupWriter | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal writer
        writer = GroupWriter(store)
        try:
            yield
        finally:
            writer.close()

    app = FastAPI(title="Robot Runtime share API", version="1", lifespan=lifespan)
    _install_error_handlers(app)

    def who(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("missing bearer token")
        return store.authenticate(token.strip())

    async def write(request: Request, rec_type: str, tags: tuple[str, ...]) -> Response:
        # A token look-up is one indexed read: cheaper done here than handed to a thread.
        principal = who(request)
        check_rec_type(rec_type)
        data = _parse_json(await _read_body(request, max_body_bytes))
        assert writer is not None
        record = await asyncio.wrap_future(
            writer.submit(principal, WriteRequest(rec_type, data, tags)))
        return json_response(envelopes.records_envelope([record]), 201)

    @app.post("/share/{rec_type}", status_code=201, summary="Store one record")
    async def post_share(rec_type: str, request: Request) -> Response:
        return await write(request, rec_type, ())

    @app.post("/share/{rec_type}/tags/{tags:path}", status_code=201,
              summary="Store one record with tags")
    async def post_share_tagged(rec_type: str, tags: str, request: Request) -> Response:
        return await write(request, rec_type, _path_tags(tags))

    @app.get("/share/{rec_type}", summary="Read the identity's records of a recType")
    def get_shares(rec_type: str, request: Request, page: int = 1,
                   perPage: int = DEFAULT_PER_PAGE, sort: str = "",  # noqa: N803
                   details: bool = True) -> Response:
        query = _query(rec_type, (), page, perPage, sort)
        return _page(store, who(request), query, details)

    @app.get("/share/{rec_type}/view/{view_id}", summary="Read a view's result")
    def get_view_result(rec_type: str, view_id: str, request: Request) -> Response:
        principal = who(request)
        view = store.get_view(view_id, principal.user)
        params = {k: typed_text(v) for k, v in request.query_params.items()}
        with store.session() as session:
            docs = session.run_view(principal, check_rec_type(rec_type), view, params)
        return json_response(envelopes.docs_envelope(docs))

    @app.post("/view/{view_id}", status_code=201, summary="Create or replace a view")
    async def put_view(view_id: str, request: Request) -> Response:
        principal = who(request)
        body = _parse_json(await _read_body(request, max_body_bytes))
        view = view_from_json(view_id, body, owner=principal.user)
        store.put_view(view)
        return json_response(view.to_json(), 201)

    @app.get("/view/{view_id}", summary="Read a view's definition")
    def get_view(view_id: str, request: Request) -> Response:
        return json_response(store.get_view(view_id, who(request).user).to_json())

    @app.delete("/view/{view_id}", summary="Delete a view")
    def delete_view(view_id: str, request: Request) -> Response:
        store.delete_view(view_id, who(request).user)
        return json_response({"id": view_id, "deleted": True})

    @app.get("/share/{rec_type}/tags/latest", summary="Read the newest record")
    def get_latest(rec_type: str, request: Request, details: bool = True) -> Response:
        return _page(store, who(request), _query(rec_type, (), 1, 1, ""), details)

    @app.get("/share/{rec_type}/tags/{tags:path}", summary="Read records carrying all tags")
    def get_tagged(rec_type: str, tags: str, request: Request, page: int = 1,
                   perPage: int = DEFAULT_PER_PAGE, sort: str = "",  # noqa: N803
                   details: bool = True) -> Response:
        query = _query(rec_type, _path_tags(tags), page, perPage, sort)
        return _page(store, who(request), query, details)

    @app.get("/share/{rec_type}/{record_id}", summary="Read one record")
    def get_share(rec_type: str, record_id: str, request: Request) -> Response:
        principal = who(request)
        with store.session() as session:
            record = session.get(principal, check_rec_type(rec_type), record_id)
        return json_response(envelopes.records_envelope([record]))

    @app.delete("/share/{rec_type}/{record_id}", summary="Delete one record")
    def delete_share(rec_type: str, record_id: str, request: Request) -> dict[str, Any]:
        principal = who(request)
        with store.session() as session:
            record = session.get(principal, check_rec_type(rec_type), record_id,
                                 check_access=False)
            session.delete(principal, rec_type, record_id)
        return envelopes.records_envelope([record])

    @app.post("/oauth2/token", summary="Issue a token")
    def issue_token(username: str, password: str, grant_type: str = "password",
                    scope: str = "ALL:ALL", client_id: str = "") -> dict[str, Any]:
        del client_id  # accepted as Microshare clients send it; one client here
        return _issue_token(store, username, password, grant_type, scope)

    return app


def _issue_token(store: Store, username: str, password: str, grant_type: str,
                 scope: str) -> dict[str, Any]:
    if grant_type not in ("password", "pipe"):
        raise InvalidRecord(f"unsupported grant_type {grant_type!r}: use password or pipe")
    scopes = {s.strip().upper() for s in scope.split(",") if s.strip()}
    if not scopes or not scopes <= KNOWN_SCOPES:
        raise InvalidRecord(f"unknown scope {scope!r}: use {', '.join(sorted(KNOWN_SCOPES))}")
    if not store.check_password(username, password):
        raise NotAuthenticated("wrong username or password")
    pipe = grant_type == "pipe"
    expires = None if pipe else _now_ms() + PASSWORD_TOKEN_TTL_MS
    token = store.create_token(username, pipe=pipe, scope=",".join(sorted(scopes)),
                               expires_ms=expires)
    return {"access_token": token, "token_type": "bearer", "scope": ",".join(sorted(scopes)),
            "expires_in": None if pipe else PASSWORD_TOKEN_TTL_MS // 1000}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _query(rec_type: str, tags: tuple[str, ...], page: int, per_page: int, sort: str) -> Query:
    fields = tuple(part.strip() for part in sort.split(",") if part.strip())
    return Query(check_rec_type(rec_type), tags, page, per_page, fields)


def _page(store: Store, principal: Principal, query: Query, details: bool) -> Response:
    with store.session() as session:
        page = session.query(principal, query)
    return json_response(envelopes.page_envelope(page, details=details))


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer encoded here: FastAPI's generic encoder costs milliseconds a page."""
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                    status_code=status, media_type="application/json")


def _path_tags(path: str) -> tuple[str, ...]:
    parts = path.split("/")
    if any(not part for part in parts):
        raise InvalidRecord(f"empty tag in {path!r}")
    return check_tags(parts)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidRecord(f"malformed JSON: {exc.msg} at line {exc.lineno} column "
                            f"{exc.colno} (char {exc.pos})") from exc
    except UnicodeDecodeError as exc:
        raise InvalidRecord(f"malformed JSON: not UTF-8 ({exc.reason} at byte {exc.start})"
                            ) from exc


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> Response:
        status = next((code for kind, code in _STATUS_OF.items() if isinstance(exc, kind)), 500)
        return error(status, str(exc))

    @app.exception_handler(ClientDisconnect)
    async def gone(_: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=499)  # nobody is there to read it; nothing was stored

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, exc: BodyTooLarge) -> Response:
        return error(413, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(_: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors())
        return error(400, f"bad parameter: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "no such route", 405: "method not allowed"}.get(exc.status_code,
                                                                        str(exc.detail))
        return error(exc.status_code, message)
