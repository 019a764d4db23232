"""The V8 sandbox through real isolates: limits, errors, module loading, escapes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from runtime.runner import Runner
from runtime.sandbox.base import Limits, RunStatus
from runtime.sandbox.miniracer import SyntaxChecker, context_count
from runtime.store.sqlite import SqliteStore
from tests.conftest import RunJs, logs


def test_top_level_code_runs_once_per_isolate_and_main_once_per_event(run_js: RunJs) -> None:
    source = "var loads = 0; loads++; var runs = 0;\n" \
             "function main(text) { runs++; print(loads + '/' + runs + ':' + text); }"
    assert logs(run_js(source, "a")) == ["1/1:a"]
    assert logs(run_js(source, "b")) == ["1/2:b"]


def test_each_robot_has_its_own_isolate(run_js: RunJs) -> None:
    run_js("var shared = 'first'; function main() {}", name="one.js")
    result = run_js("function main() { print(typeof shared); }", name="two.js")
    assert logs(result) == ["undefined"]


def test_robot_without_main_gets_a_clear_error(run_js: RunJs) -> None:
    result = run_js("var x = 1;", name="nomain.js")
    assert result.status is RunStatus.ERROR and result.error is not None
    assert "nomain.js defines no main(text, auth) function" in result.error.message


def test_syntax_error_names_file_line_and_column(run_js: RunJs) -> None:
    result = run_js("var a = 1;\nvar b = ;\nfunction main() {}\n", name="broken.js")
    assert result.status is RunStatus.ERROR and result.error is not None
    assert result.error.name == "SyntaxError"
    assert "broken.js:2:9: Unexpected token ';'" in result.error.message
    assert "var b = ;" in result.error.stack


def test_uncaught_exception_carries_the_javascript_stack(run_js: RunJs) -> None:
    result = run_js("function inner() { throw new TypeError('bad packet'); }\n"
                    "function main() { inner(); }\n", name="thrower.js")
    assert result.status is RunStatus.ERROR and result.error is not None
    assert (result.error.name, result.error.message) == ("TypeError", "bad packet")
    assert "thrower.js:1:26" in result.error.stack and "at inner" in result.error.stack
    assert "bridge.js" not in result.error.stack


def test_thrown_non_error_value_is_reported(run_js: RunJs) -> None:
    result = run_js("function main() { throw {code: 7}; }")
    assert result.error is not None and result.error.message == 'Uncaught {"code":7}'


def test_endless_loop_ends_in_timeout_and_the_next_run_gets_a_fresh_isolate(
        tmp_path: Path, store: SqliteStore, token: str) -> None:
    script = tmp_path / "spin.js"
    script.write_text("var runs = 0; function main(t) { runs++; print(runs); "
                      "if (t === 'spin') for (;;) {} }")
    with Runner(store, limits=Limits(timeout_s=0.3)) as runner:
        assert runner.run(script, "spin", token).status is RunStatus.TIMEOUT
        again = runner.run(script, "ok", token)
    assert again.status is RunStatus.OK and logs(again) == ["1"]


def test_memory_hog_ends_in_memory_status_and_other_robots_carry_on(
        tmp_path: Path, store: SqliteStore, token: str) -> None:
    hog, calm = tmp_path / "hog.js", tmp_path / "calm.js"
    hog.write_text("function main() { var a = []; for (;;) a.push(new Array(1e5).fill(1.5)); }")
    calm.write_text("function main() { print('fine'); }")
    with Runner(store, limits=Limits(timeout_s=10, memory_mb=32)) as runner:
        assert runner.run(hog, "", token).status is RunStatus.MEMORY
        assert logs(runner.run(calm, "", token)) == ["fine"]
        assert runner.run(hog, "", token).status is RunStatus.MEMORY


def test_robot_modules_load_once_from_the_robot_folder(run_js: RunJs, tmp_path: Path) -> None:
    folder = tmp_path / "robots"
    (folder / "sub").mkdir(parents=True)
    (folder / "counter.js").write_text("var n = 0; exports.next = function () { return ++n; };")
    (folder / "sub" / "uses.js").write_text("module.exports = require('../counter');")
    result = run_js("var a = require('./counter'); var b = require('./sub/uses.js');\n"
                    "function main() { a.next(); print(b.next(), a === b); }")
    assert logs(result) == ["2 true"]


def test_helpers_load_under_every_documented_name(run_js: RunJs) -> None:
    result = run_js("var a = require('./libs/helpers'), b = require('libs/helpers'),\n"
                    "c = require('./libs/helpers.js'), d = require('libs/helpers.js');\n"
                    "function main() { print(a === b && b === c && c === d, typeof a.get); }")
    assert logs(result) == ["true function"]


def test_require_outside_the_robot_folder_or_of_unknown_modules_throws(
        run_js: RunJs, tmp_path: Path) -> None:
    (tmp_path / "secret.js").write_text("exports.leak = 1;")
    (tmp_path / "robots").mkdir(exist_ok=True)
    os.symlink(tmp_path / "secret.js", tmp_path / "robots" / "link.js")
    names = ["fs", "child_process", "../secret", "./link", "/etc/passwd", "./libs/bridge",
             "http", "./missing"]
    source = "function main() { %s }" % " ".join(
        f"try {{ require('{n}'); print('loaded {n}'); }} catch (e) {{ print(e.message); }}"
        for n in names)
    assert logs(run_js(source)) == [f"Cannot find module '{n}'" for n in names]


def test_nothing_outside_the_documented_globals_reaches_the_host(run_js: RunJs) -> None:
    source = """function main() {
      print([typeof process, typeof __rr_host, typeof __rr_sab, typeof setTimeout,
             typeof Deno, typeof Bun, typeof importScripts].join(','));
      var own = Object.getOwnPropertyNames(globalThis).filter(function (k) {
        return /rr_|host|python/i.test(k); });
      print(JSON.stringify(own));
    }"""
    assert logs(run_js(source)) == ["undefined,undefined,undefined,undefined,undefined,"
                                    "undefined,undefined", "[]"]


def test_console_levels_reach_the_run_log(run_js: RunJs) -> None:
    result = run_js("function main() { console.log('a', 1); console.warn('w');"
                    " console.error(new Error('e').message); console.debug({k: [1]}); }")
    assert [(entry["level"], entry["message"]) for entry in result.report.logs] == [
        ("info", "a 1"), ("warn", "w"), ("error", "e"), ("debug", '{"k":[1]}')]


def test_ten_thousand_runs_leak_no_isolate_thread_or_memory(
        tmp_path: Path, store: SqliteStore, token: str) -> None:
    script = tmp_path / "r.js"
    script.write_text("var lib = require('./libs/helpers');\n"
                      "function main(t) { var p = JSON.parse(t); lib.say(p.n); }")
    SyntaxChecker.ensure()  # the process's one checker isolate is not a leak
    contexts, threads = context_count(), threading.active_count()
    with Runner(store) as runner:
        for n in range(200):
            runner.run(script, f'{{"n": {n}}}', token)
        rss_before = _rss_kb()
        for n in range(10_000):
            result = runner.run(script, f'{{"n": {n}}}', token)
            assert result.ok
        growth_kb = _rss_kb() - rss_before
    assert context_count() == contexts and threading.active_count() == threads
    assert growth_kb < 30_000, f"RSS grew {growth_kb} kB over 10,000 runs"


def test_thrown_away_isolates_are_freed(tmp_path: Path, store: SqliteStore, token: str) -> None:
    script = tmp_path / "fail.js"
    script.write_text("function main() {}\nnot valid (")
    SyntaxChecker.ensure()  # the process's one checker isolate is not a leak
    contexts, threads = context_count(), threading.active_count()
    with Runner(store) as runner:
        for _ in range(20):
            assert runner.run(script, "", token).status is RunStatus.ERROR
    assert context_count() == contexts and threading.active_count() == threads


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")
