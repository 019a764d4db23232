"""The helper library's HTTP, data lake, state and log calls, through a real isolate."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from runtime.report import RunResult
from runtime.runner import Runner
from runtime.sandbox.base import RunStatus
from runtime.store.base import Query
from runtime.store.sqlite import SqliteStore
from tests.conftest import RunJs, logs

LIB = "var lib = require('./libs/helpers');\n"
API = "https://api.example.test"


def run_main(run_js: RunJs, body: str, text: str = "", **kwargs: object) -> RunResult:
    return run_js(LIB + "function main(text, auth) {\n" + body + "\n}", text, **kwargs)


@respx.mock
def test_get_returns_decoded_json_and_sends_headers_as_given(run_js: RunJs) -> None:
    route = respx.get(f"{API}/items").mock(return_value=httpx.Response(200, json=[{"a": 1}]))
    result = run_main(run_js, "var r = lib.get('%s/items', {'X-API-Key': 'k', Accept: "
                              "'application/json'}); print(r[0].a);" % API)
    assert logs(result) == ["1"]
    request = route.calls.last.request
    assert request.headers["X-API-Key"] == "k" and request.headers["Accept"] == "application/json"
    assert result.report.http[0]["status"] == 200


@respx.mock
@pytest.mark.parametrize("control, header, value", [
    ("{authType: 'BASIC', username: 'u', password: 'p'}", "Authorization", "Basic dTpw"),
    ("{authType: 'OAUTH2', token: 't0k'}", "Authorization", "Bearer t0k"),
    ("{authType: 'CUSTOM', headerName: 'X-Custom', headerValue: 'v'}", "X-Custom", "v"),
    ("{authType: 'API', apiKey: 'key1'}", "X-API-Key", "key1"),
    ("{contentType: 'text/csv'}", "Content-Type", "text/csv"),
])
def test_auth_type_control_keys_become_headers_and_are_not_sent(
        run_js: RunJs, control: str, header: str, value: str) -> None:
    route = respx.post(f"{API}/in").mock(return_value=httpx.Response(201, text="done"))
    result = run_main(run_js, f"print(lib.post('{API}/in', {control}, 'a,b'));")
    assert logs(result) == ["done"]
    sent = route.calls.last.request
    assert sent.headers[header] == value
    for key in ("authType", "username", "password", "token", "apiKey", "headerName",
                "contentType"):
        assert key not in sent.headers


@respx.mock
def test_object_body_is_sent_as_json(run_js: RunJs) -> None:
    route = respx.put(f"{API}/x").mock(return_value=httpx.Response(204))
    run_main(run_js, f"lib.put('{API}/x', {{}}, {{n: 1}});")
    sent = route.calls.last.request
    assert json.loads(sent.content) == {"n": 1}
    assert sent.headers["Content-Type"] == "application/json"


@respx.mock
def test_non_2xx_throws_http_error_with_status_url_and_body(run_js: RunJs) -> None:
    respx.get(f"{API}/gone").mock(return_value=httpx.Response(404, text="no such"))
    result = run_main(run_js, "try { lib.get('%s/gone'); } catch (e) {\n"
                              "print(e.name, e.status, e.url, e.body, e instanceof Error); }" % API)
    assert logs(result) == [f"HttpError 404 {API}/gone no such true"]


@respx.mock
def test_network_failure_throws_network_error_with_code(run_js: RunJs) -> None:
    respx.get(f"{API}/down").mock(side_effect=httpx.ConnectError("refused"))
    respx.get(f"{API}/slow").mock(side_effect=httpx.ReadTimeout("slow"))
    result = run_main(run_js, "['down', 'slow'].forEach(function (p) {\n"
                              "try { lib.get('%s/' + p); } catch (e) { print(e.name, e.code); } });"
                      % API)
    assert logs(result) == ["NetworkError ECONNREFUSED", "NetworkError ETIMEDOUT"]
    assert [call["status"] for call in result.report.http] == [None, None]


@respx.mock
def test_request_returns_status_headers_and_body_without_throwing(run_js: RunJs) -> None:
    respx.delete(f"{API}/r").mock(return_value=httpx.Response(
        500, json={"why": "x"}, headers={"X-Trace": "t1"}))
    result = run_main(run_js, "var r = lib.request({method: 'DELETE', url: '%s/r'});\n"
                              "print(r.status, r.headers['x-trace'], r.json.why, r.body);" % API)
    assert logs(result) == ['500 t1 x {"why":"x"}']


def test_http_call_never_outlives_the_run_deadline(tmp_path: Path, store: SqliteStore,
                                                   token: str) -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts, never answers
    port = listener.getsockname()[1]
    script = tmp_path / "slow.js"
    script.write_text(LIB + "function main() { try { lib.get('http://127.0.0.1:%d/'); }"
                      " catch (e) { print(e.name, e.code); } }" % port)
    from runtime.sandbox.base import Limits

    with Runner(store, limits=Limits(timeout_s=0.5)) as runner:
        started = threading.Event()
        started.set()
        result = runner.run(script, "", token)
    listener.close()
    assert result.status in (RunStatus.OK, RunStatus.TIMEOUT)
    assert result.duration_ms < 1500
    if result.status is RunStatus.OK:
        assert logs(result) == ["NetworkError ETIMEDOUT"]


@respx.mock
def test_documented_liveobjects_robot_runs_unchanged(runner: Runner, store: SqliteStore,
                                                     token: str) -> None:
    packets = [{"id": f"p{n}", "value": {"payload": "0167FFD7"}} for n in range(3)]
    route = respx.get(
        "https://liveobjects.orange-business.com/api/v0/data/streams/"
        "urn:lora:myDeviceDevEUI!uplink").mock(return_value=httpx.Response(200, json=packets))
    script = Path(__file__).parents[2] / "robots" / "liveobjects.js"
    result = runner.run(script, "{}", token)
    assert result.ok, result.error
    assert route.calls.last.request.headers["X-API-Key"] == "myLiveObjectsApikey"
    with store.session() as session:
        page = session.query(store.authenticate(token), Query("orange.liveobjects.siconia"))
    assert sorted(r.data["id"] for r in page.records) == ["p0", "p1", "p2"]
    assert all(r.tags == ("liveObjects",) for r in page.records)


def test_write_returns_the_envelope_and_is_readable_at_once(run_js: RunJs) -> None:
    result = run_main(run_js, """
      var w = lib.write('io.test.t', {v: 42}, auth, ['dev1', 'raw']);
      print(w.err, w.msg, w.recType, w.id.length, w.objs[0].data.v, w.meta.totalCount);
      var byId = lib.readShareById(auth, 'io.test.t', w.id);
      print(byId.err, byId.objs[0].id === w.id, JSON.stringify(byId.objs[0].tags));
      lib.writeShare(auth, 'io.test.t', {v: 43}, ['dev2']);
      var byTags = lib.readShareByTags(auth, 'io.test.t', ['dev1']);
      print(byTags.meta.totalCount, byTags.objs[0].data.v, byTags.id === '');""")
    assert logs(result) == ["0 Success io.test.t 24 42 1", 'true true ["dev1","raw"]'.replace(
        "true true", "0 true"), "1 42 true"]
    assert [w["recType"] for w in result.report.writes] == ["io.test.t", "io.test.t"]


def test_store_failures_come_back_as_envelopes_not_exceptions(run_js: RunJs) -> None:
    result = run_main(run_js, """
      var bad = lib.write('bad type!', {}, auth, []);
      print(bad.err, bad.msg);
      var nope = lib.readShareById(auth, 'io.test.t', 'ffffffffffffffffffffffff');
      print(nope.err, nope.msg);
      var anon = lib.writeShare('not-a-token', 'io.test.t', {}, []);
      print(anon.err, anon.msg);""")
    assert logs(result) == [
        "1 invalid recType 'bad type!': use 1-200 characters of A-Z a-z 0-9 . _ -",
        "1 no record ffffffffffffffffffffffff of recType io.test.t",
        "1 unknown token"]


def test_co_owners_can_read_what_was_written_for_them(run_js: RunJs, store: SqliteStore) -> None:
    bob = store.local_token("bob@example.com")
    carol = store.local_token("carol@example.com")
    result = run_main(run_js, """
      var w = lib.writeShareWithOwners(auth, 'io.shared', {n: 1}, [], ['bob@example.com']);
      print(lib.readShareById('%s', 'io.shared', w.id).err,
            lib.readShareById('%s', 'io.shared', w.id).err);""" % (bob, carol))
    assert logs(result) == ["0 1"]


def test_parse_msg_reads_the_triggering_record(run_js: RunJs) -> None:
    text = json.dumps({"meta": {"totalCount": 1}, "objs": [
        {"id": "a" * 24, "recType": "io.in", "data": {"temp": 21.5}}]})
    result = run_main(run_js, "var m = lib.parseMsg(text); print(m.err, m.recType, "
                              "m.objs[0].data.temp, m.id.length);\n"
                              "print(lib.parseMsg('not json').err);", text=text)
    assert logs(result) == ["0 io.in 21.5 24", "1"]


def test_dry_run_reports_writes_but_stores_nothing(run_js: RunJs, store: SqliteStore,
                                                   token: str) -> None:
    result = run_main(run_js, "print(lib.write('io.dry', {a: 1}, auth, ['t']).err);",
                      dry_run=True)
    assert logs(result) == ["0"] and len(result.report.writes) == 1
    with store.session() as session:
        assert session.query(store.authenticate(token), Query("io.dry")).total_count == 0


def test_state_is_kept_per_robot_across_runs(run_js: RunJs) -> None:
    body = "var c = lib.state.get('cursor') || 0; lib.state.set('cursor', c + 1); print(c);"
    assert logs(run_main(run_js, body, name="a.js")) == ["0"]
    assert logs(run_main(run_js, body, name="a.js")) == ["1"]
    assert logs(run_main(run_js, body, name="b.js")) == ["0"]
    result = run_main(run_js, "lib.state.delete('cursor'); print(lib.state.get('cursor'));",
                      name="a.js")
    assert logs(result) == ["undefined"]


def test_say_and_print_write_info_lines(run_js: RunJs) -> None:
    result = run_main(run_js, "lib.say('hello'); print('a', 2, [3]);")
    assert result.report.logs == [{"level": "info", "message": "hello"},
                                  {"level": "info", "message": "a 2 [3]"}]


def test_host_calls_block_inside_callbacks_and_try_catch(run_js: RunJs) -> None:
    result = run_main(run_js, """
      var ids = [1, 2, 3].map(function (n) {
        try { return lib.write('io.cb', {n: n}, auth, []).objs[0].data.n; }
        finally { lib.say('after ' + n); } });
      print(ids.join(','));""")
    assert logs(result) == ["after 1", "after 2", "after 3", "1,2,3"]


def test_32_megabytes_cross_the_bridge_each_way(tmp_path: Path, store: SqliteStore,
                                                token: str) -> None:
    from runtime.sandbox.base import Limits

    script = tmp_path / "big.js"
    script.write_text(LIB + """function main(text, auth) {
      var big = new Array(32 * 1024 * 1024 + 1).join('x');
      var w = lib.write('io.big', {s: big}, auth, []);
      var back = lib.readShareById(auth, 'io.big', w.id).objs[0].data.s;
      print(back.length, back === big); }""")
    with Runner(store, limits=Limits(timeout_s=60, memory_mb=1024)) as runner:
        result = runner.run(script, "", token)
    assert result.ok, result.error
    assert logs(result) == [f"{32 * 1024 * 1024} true"]


def test_a_write_envelope_reads_like_a_plain_object(run_js: RunJs) -> None:
    result = run_main(run_js, """
      var w = lib.write('io.lazy', {a: 1}, auth, ['t']);
      var copy = JSON.parse(JSON.stringify(w));
      print(Object.keys(w).join(','), 'err' in w, copy.objs[0].data.a, copy.id === w.id);
      w.extra = 5; print(w.extra);""")
    assert logs(result) == ["err,msg,meta,objs,id,recType true 1 true", "5"]


def test_writes_queued_before_a_timeout_are_stored(tmp_path: Path, store: SqliteStore,
                                                    token: str) -> None:
    from runtime.sandbox.base import Limits

    script = tmp_path / "late.js"
    script.write_text(LIB + "function main(t, auth) {\n"
                      "  for (var i = 0; i < 10; i++) lib.write('io.late', {i: i}, auth, []);\n"
                      "  for (;;) {} }")
    with Runner(store, limits=Limits(timeout_s=0.3)) as runner:
        result = runner.run(script, "", token)
    assert result.status is RunStatus.TIMEOUT
    with store.session() as session:
        page = session.query(store.authenticate(token), Query("io.late"))
    assert sorted(r.data["i"] for r in page.records) == list(range(10))
    assert result.report.write_count == 10


def test_a_pipe_token_gets_the_envelope_of_its_own_write(run_js: RunJs,
                                                         store: SqliteStore) -> None:
    store.register_token("pipe-token", "alice@example.com", pipe=True)
    result = run_main(run_js, "var w = lib.write('io.pipe', {n: 1}, 'pipe-token', []);\n"
                              "print(w.err, w.objs[0].data.n);\n"
                              "print(lib.readShareById('pipe-token', 'io.pipe', w.id).err);")
    assert logs(result) == ["0 1", "1"]


def test_read_share_by_view_runs_a_view_with_params(run_js: RunJs, store: SqliteStore) -> None:
    from runtime.store.base import View

    store.put_view(View("hot", "io.t", ({"$match": {"data.v": {"$gt": "${min}"}}},
                                        {"$count": "n"})))
    result = run_main(run_js, """
      [1, 5, 9].forEach(function (v) { lib.write('io.t', {v: v}, auth, []); });
      var r = lib.readShareByView(auth, 'io.t', 'hot', {min: 4});
      print(r.err, r.viewId, JSON.stringify(r.objs));
      print(lib.readShareByView(auth, 'io.t', 'nope').err);""")
    assert logs(result) == ['0 hot [{"n":2}]', "1"]
