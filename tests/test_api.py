"""The share REST API through a real uvicorn server on 127.0.0.1, driven by httpx."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from runtime.api import create_app
from runtime.store.base import Principal, Record, WriteRequest
from runtime.store.sqlite import SqliteStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, store: SqliteStore, **options: int) -> None:
        port = free_port()
        config = uvicorn.Config(create_app(store, **options), host="127.0.0.1", port=port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def api(store: SqliteStore) -> Iterator[str]:
    with LiveServer(store) as live:
        yield live.url


@pytest.fixture
def alice(store: SqliteStore) -> dict[str, str]:
    store.add_identity("alice@example.com")
    return {"Authorization": "Bearer " + store.create_token("alice@example.com")}


@pytest.fixture
def bob(store: SqliteStore) -> dict[str, str]:
    store.add_identity("bob@example.com")
    return {"Authorization": "Bearer " + store.create_token("bob@example.com")}


def test_post_stores_one_record_and_answers_201_with_its_envelope(
        api: str, alice: dict[str, str]) -> None:
    answer = httpx.post(f"{api}/share/io.t", json={"temp": 21.5}, headers=alice)
    assert answer.status_code == 201
    body = answer.json()
    assert body["meta"] == {"totalPages": 1, "currentPage": 1, "perPage": 1, "totalCount": 1,
                            "currentCount": 1}
    [record] = body["objs"]
    assert record["data"] == {"temp": 21.5} and record["recType"] == "io.t"
    assert record["owner"]["user"] == "alice@example.com" and len(record["id"]) == 24
    again = httpx.get(f"{api}/share/io.t/{record['id']}", headers=alice).json()
    assert again["objs"][0]["id"] == record["id"]


def test_tags_latest_and_delete(api: str, alice: dict[str, str]) -> None:
    for n, tags in enumerate(["a/b", "a", "b"]):
        assert httpx.post(f"{api}/share/io.g/tags/{tags}", json={"n": n},
                          headers=alice).status_code == 201
    both = httpx.get(f"{api}/share/io.g/tags/a/b", headers=alice).json()
    assert [o["data"]["n"] for o in both["objs"]] == [0]
    only_a = httpx.get(f"{api}/share/io.g/tags/a", headers=alice).json()
    assert [o["data"]["n"] for o in only_a["objs"]] == [1, 0]
    latest = httpx.get(f"{api}/share/io.g/tags/latest", headers=alice).json()
    assert [o["data"]["n"] for o in latest["objs"]] == [2]
    victim = latest["objs"][0]["id"]
    assert httpx.delete(f"{api}/share/io.g/{victim}", headers=alice).status_code == 200
    assert httpx.get(f"{api}/share/io.g/{victim}", headers=alice).status_code == 404


def test_two_identities_never_see_each_others_records(api: str, alice: dict[str, str],
                                                      bob: dict[str, str]) -> None:
    record = httpx.post(f"{api}/share/io.p", json=1, headers=alice).json()["objs"][0]
    assert httpx.get(f"{api}/share/io.p", headers=bob).json()["objs"] == []
    assert httpx.get(f"{api}/share/io.p/{record['id']}", headers=bob).status_code == 404
    assert httpx.delete(f"{api}/share/io.p/{record['id']}", headers=bob).status_code == 404


def test_co_owners_read_records_written_for_them(api: str, store: SqliteStore,
                                                 alice: dict[str, str],
                                                 bob: dict[str, str]) -> None:
    with store.session() as session:
        session.write(Principal("alice@example.com", "example.com"),
                      WriteRequest("io.co", {"shared": True}, (), ("bob@example.com",)))
    assert [o["data"] for o in httpx.get(f"{api}/share/io.co", headers=bob).json()["objs"]] == [
        {"shared": True}]


def test_pagination_arithmetic_on_odd_sizes(api: str, alice: dict[str, str]) -> None:
    for n in range(7):
        httpx.post(f"{api}/share/io.n", json={"n": n}, headers=alice)
    pages = [httpx.get(f"{api}/share/io.n", params={"page": p, "perPage": 3},
                       headers=alice).json() for p in (1, 2, 3, 4)]
    assert [[o["data"]["n"] for o in page["objs"]] for page in pages] == [
        [6, 5, 4], [3, 2, 1], [0], []]
    assert pages[2]["meta"] == {"totalPages": 3, "currentPage": 3, "perPage": 3,
                                "totalCount": 7, "currentCount": 1}
    bare = httpx.get(f"{api}/share/io.n", params={"details": "false"}, headers=alice).json()
    assert all("data" not in o for o in bare["objs"]) and bare["meta"]["perPage"] == 999


def test_sort_by_data_field(api: str, alice: dict[str, str]) -> None:
    for priority in (3, 1, 2):
        httpx.post(f"{api}/share/io.s", json={"priority": priority}, headers=alice)
    body = httpx.get(f"{api}/share/io.s", params={"sort": "data.priority"}, headers=alice).json()
    assert [o["data"]["priority"] for o in body["objs"]] == [1, 2, 3]


def test_tokens_missing_unknown_expired_or_revoked_get_401(api: str,
                                                           store: SqliteStore) -> None:
    store.add_identity("carol")
    expired = store.create_token("carol", expires_ms=int(time.time() * 1000) - 1)
    revoked = store.create_token("carol")
    store.revoke_token(revoked)
    for headers in ({}, {"Authorization": "Bearer nope"},
                    {"Authorization": f"Bearer {expired}"},
                    {"Authorization": f"Bearer {revoked}"}, {"Authorization": "Basic x"}):
        answer = httpx.get(f"{api}/share/io.t", headers=headers)
        assert answer.status_code == 401 and "error" in answer.json()


def test_pipe_tokens_write_but_never_read_and_scopes_hold(api: str, store: SqliteStore) -> None:
    store.add_identity("dev")
    pipe = {"Authorization": "Bearer " + store.create_token("dev", pipe=True)}
    reader = {"Authorization": "Bearer " + store.create_token("dev", scope="SHARE:READ")}
    writer = {"Authorization": "Bearer " + store.create_token("dev", scope="SHARE:WRITE")}
    assert httpx.post(f"{api}/share/io.w", json=1, headers=pipe).status_code == 201
    assert httpx.get(f"{api}/share/io.w", headers=pipe).status_code == 403
    assert httpx.post(f"{api}/share/io.w", json=1, headers=reader).status_code == 403
    assert httpx.get(f"{api}/share/io.w", headers=reader).json()["meta"]["totalCount"] == 1
    assert httpx.get(f"{api}/share/io.w", headers=writer).status_code == 403


@pytest.mark.parametrize("method, path, body, status, says", [
    ("POST", "/share/io.b", b'{"a": }', 400, "malformed JSON: Expecting value at line 1"),
    ("POST", "/share/bad type", b"{}", 400, "invalid recType"),
    ("POST", "/share/io.b/tags/a//b", b"{}", 400, "empty tag"),
    ("GET", "/share/io.b/ffffffffffffffffffffffff", None, 404, "no record"),
    ("GET", "/share/io.b/not-an-id", None, 400, "invalid id"),
    ("PUT", "/share/io.b", b"{}", 405, "method not allowed"),
    ("GET", "/nowhere", None, 404, "no such route"),
    ("GET", "/share/io.b?page=0", None, 400, "page and perPage must be 1 or more"),
    ("GET", "/share/io.b?perPage=many", None, 400, "bad parameter: perPage"),
    ("GET", "/share/io.b?sort=bogus", None, 400, "cannot sort by 'bogus'"),
])
def test_bad_input_gets_a_clear_json_error_and_stores_nothing(
        api: str, alice: dict[str, str], store: SqliteStore, method: str, path: str,
        body: bytes | None, status: int, says: str) -> None:
    answer = httpx.request(method, f"{api}{path}", content=body, headers=alice)
    assert answer.status_code == status
    assert says in answer.json()["error"]
    assert httpx.get(f"{api}/share/io.b", headers=alice).json()["meta"]["totalCount"] == 0


def test_body_over_the_limit_gets_413(store: SqliteStore, alice: dict[str, str]) -> None:
    with LiveServer(store, max_body_bytes=100) as live:
        answer = httpx.post(f"{live.url}/share/io.big", json={"x": "y" * 200}, headers=alice)
        assert answer.status_code == 413
        chunked = httpx.post(f"{live.url}/share/io.big", headers=alice,
                             content=iter([b'{"x": "', b"y" * 200, b'"}']))
        assert chunked.status_code == 413
        assert httpx.get(f"{live.url}/share/io.big", headers=alice).json()["objs"] == []


def test_oauth2_password_and_pipe_grants(api: str, store: SqliteStore) -> None:
    store.add_identity("erin", password="s3cret")
    params = {"username": "erin", "password": "s3cret", "client_id": "k",
              "grant_type": "password", "scope": "ALL:ALL"}
    issued = httpx.post(f"{api}/oauth2/token", params=params).json()
    assert issued["expires_in"] == 48 * 3600 and len(issued["access_token"]) >= 22
    auth = {"Authorization": f"Bearer {issued['access_token']}"}
    assert httpx.get(f"{api}/share/io.o", headers=auth).status_code == 200
    pipe = httpx.post(f"{api}/oauth2/token", params={**params, "grant_type": "pipe"}).json()
    assert pipe["expires_in"] is None
    assert httpx.get(f"{api}/share/io.o", headers={
        "Authorization": f"Bearer {pipe['access_token']}"}).status_code == 403
    assert httpx.post(f"{api}/oauth2/token", params={**params, "password": "x"}
                      ).status_code == 401
    assert httpx.post(f"{api}/oauth2/token", params={**params, "scope": "ROOT:ALL"}
                      ).status_code == 400


def test_openapi_document_is_served(api: str) -> None:
    paths = httpx.get(f"{api}/openapi.json").json()["paths"]
    assert "/share/{rec_type}" in paths and "/oauth2/token" in paths


def test_every_created_record_is_published_once_with_its_owner(
        api: str, store: SqliteStore, alice: dict[str, str]) -> None:
    seen: list[Record] = []
    store.events.subscribe(seen.extend)
    httpx.post(f"{api}/share/io.e", json={"n": 1}, headers=alice)
    assert [(r.rec_type, r.owner, r.data) for r in seen] == [
        ("io.e", "alice@example.com", {"n": 1})]


def test_concurrent_posts_lose_nothing(api: str, alice: dict[str, str]) -> None:
    failures: list[int] = []

    def post_many(worker: int) -> None:
        with httpx.Client(base_url=api, headers=alice) as client:
            for n in range(1000):
                status = client.post("/share/io.c", json={"w": worker, "n": n}).status_code
                if status != 201:
                    failures.append(status)

    threads = [threading.Thread(target=post_many, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    body = httpx.get(f"{api}/share/io.c", params={"perPage": 1}, headers=alice).json()
    assert body["meta"]["totalCount"] == 8000



def test_views_through_the_api_are_their_owners_and_run_with_parameters(
        api: str, alice: dict[str, str], bob: dict[str, str]) -> None:
    for n in range(6):
        httpx.post(f"{api}/share/io.vw", json={"device": f"d{n % 2}", "level": n}, headers=alice)
    view = {"recType": "io.vw", "pipeline": [
        {"$match": {"data.level": {"$gte": "${min}"}}},
        {"$group": {"_id": "$data.device", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}]}
    assert httpx.post(f"{api}/view/byDevice", json=view, headers=alice).status_code == 201
    assert httpx.get(f"{api}/view/byDevice", headers=alice).json()["pipeline"] == view["pipeline"]
    result = httpx.get(f"{api}/share/io.vw/view/byDevice", params={"min": 2},
                       headers=alice).json()
    assert result["objs"] == [{"_id": "d0", "n": 2}, {"_id": "d1", "n": 2}]
    assert result["meta"]["totalCount"] == 2
    assert httpx.get(f"{api}/view/byDevice", headers=bob).status_code == 404
    assert httpx.delete(f"{api}/view/byDevice", headers=bob).status_code == 404
    assert httpx.delete(f"{api}/view/byDevice", headers=alice).status_code == 200
    assert httpx.get(f"{api}/share/io.vw/view/byDevice", headers=alice).status_code == 404


@pytest.mark.parametrize("body, says", [
    ({"recType": "io.x", "pipeline": [{"$lookup": {}}]}, "unsupported stage '$lookup'"),
    ({"recType": "io.x"}, "a view is"),
    ({"pipeline": "no"}, "a pipeline is a list"),
])
def test_bad_views_are_refused_with_the_reason(api: str, alice: dict[str, str],
                                               body: dict[str, Any], says: str) -> None:
    answer = httpx.post(f"{api}/view/bad", json=body, headers=alice)
    assert answer.status_code == 400 and says in answer.json()["error"]


def test_a_view_missing_a_parameter_is_a_400(api: str, alice: dict[str, str]) -> None:
    view = {"recType": "io.x", "pipeline": [{"$match": {"data.d": "${device}"}}]}
    httpx.post(f"{api}/view/needs", json=view, headers=alice)
    answer = httpx.get(f"{api}/share/io.x/view/needs", headers=alice)
    assert answer.status_code == 400 and "needs parameter 'device'" in answer.json()["error"]
