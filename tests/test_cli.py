"""The robot-run and robot commands, in process with click's CliRunner, on real parts."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from click.testing import CliRunner

from runtime.cli import robot, robot_run


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ROBOT_DB", str(tmp_path / "lake.sqlite3"))
    return CliRunner()


def robot_file(tmp_path: Path, source: str, name: str = "r.js") -> str:
    path = tmp_path / name
    path.write_text(source)
    return str(path)


def test_json_output_is_one_object_with_the_contract_shape(cli: CliRunner,
                                                           tmp_path: Path) -> None:
    script = robot_file(tmp_path, "var lib = require('./libs/helpers');\n"
                        "function main(t, a) { print(t); lib.write('io.c', {x: 1}, a, ['k']); }")
    result = cli.invoke(robot_run, [script, "--text", "hello", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"status", "duration_ms", "logs", "writes", "http", "notifications",
                         "error"}
    assert body["status"] == "ok" and body["error"] is None
    assert body["logs"] == [{"level": "info", "message": "hello"}]
    assert body["writes"][0]["recType"] == "io.c" and body["writes"][0]["tags"] == ["k"]


def test_default_text_is_the_manual_event_and_text_reads_a_file(cli: CliRunner,
                                                                tmp_path: Path) -> None:
    script = robot_file(tmp_path, "function main(t) { print(t); }")
    (tmp_path / "event.json").write_text('{"from": "file"}')
    first = cli.invoke(robot_run, [script, "--json"])
    second = cli.invoke(robot_run, [script, "--text", f"@{tmp_path / 'event.json'}", "--json"])
    assert json.loads(first.stdout)["logs"][0]["message"] == '{"event": "manual"}'
    assert json.loads(second.stdout)["logs"][0]["message"] == '{"from": "file"}'


def test_robot_failure_exits_1_with_the_error(cli: CliRunner, tmp_path: Path) -> None:
    script = robot_file(tmp_path, "function main() { throw new Error('nope'); }")
    result = cli.invoke(robot_run, [script, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["message"] == "nope"


def test_timeout_and_memory_options_set_the_limits(cli: CliRunner, tmp_path: Path) -> None:
    spin = robot_file(tmp_path, "function main() { for (;;) {} }", "spin.js")
    hog = robot_file(tmp_path, "function main() { var a = []; for (;;) a.push(new Array(1e5)"
                     ".fill(1.5)); }", "hog.js")
    assert json.loads(cli.invoke(robot_run, [spin, "--timeout", "0.2", "--json"]).stdout
                      )["status"] == "timeout"
    assert json.loads(cli.invoke(robot_run, [hog, "--memory", "16", "--json"]).stdout
                      )["status"] == "memory"


@pytest.mark.parametrize("args", [["missing.js"], ["{script}", "--route", "nonsense"],
                                  ["{script}", "--timeout", "0"], ["{script}", "--text", "@/no"]])
def test_usage_errors_exit_2(cli: CliRunner, tmp_path: Path, args: list[str]) -> None:
    script = robot_file(tmp_path, "function main() {}")
    result = cli.invoke(robot_run, [a.format(script=script) for a in args])
    assert result.exit_code == 2, result.output


@respx.mock
def test_route_sends_documented_hosts_to_a_local_stand_in(cli: CliRunner, tmp_path: Path) -> None:
    route = respx.get("http://127.0.0.1:8911/api/x").mock(
        return_value=httpx.Response(200, json=7))
    script = robot_file(tmp_path, "var lib = require('./libs/helpers');\n"
                        "function main() { print(lib.get('https://lo.example.com/api/x')); }")
    route_arg = "https://lo.example.com=http://127.0.0.1:8911"
    result = cli.invoke(robot_run, [script, "--route", route_arg, "--json"])
    assert json.loads(result.stdout)["logs"][0]["message"] == "7" and route.called


def test_dry_run_stores_nothing_and_shares_lists_what_was_stored(cli: CliRunner,
                                                                 tmp_path: Path) -> None:
    script = robot_file(tmp_path, "var lib = require('./libs/helpers');\n"
                        "function main(t, a) { lib.write('io.s', {t: t}, a, ['x']); }")
    cli.invoke(robot_run, [script, "--text", "dry", "--dry-run"])
    cli.invoke(robot_run, [script, "--text", "real"])
    listed = cli.invoke(robot, ["shares", "io.s", "--json"])
    body = json.loads(listed.stdout)
    assert [o["data"]["t"] for o in body["objs"]] == ["real"]
    assert body["meta"]["totalCount"] == 1
    assert cli.invoke(robot, ["shares", "io.s", "--tags", "nope", "--json"]).exit_code == 0


def test_unknown_auth_token_is_registered_for_the_user(cli: CliRunner, tmp_path: Path) -> None:
    script = robot_file(tmp_path, "var lib = require('./libs/helpers');\n"
                        "function main(t, a) {\n"
                        "  print(lib.write('io.u', {}, a, []).objs[0].owner.user); }")
    result = cli.invoke(robot_run, [script, "--auth", "my-token", "--user", "dora", "--json"])
    assert json.loads(result.stdout)["logs"][0]["message"] == "dora"


def test_human_output_has_logs_then_a_summary(cli: CliRunner, tmp_path: Path) -> None:
    script = robot_file(tmp_path, "var lib = require('./libs/helpers');\n"
                        "function main(t, a) { print('working'); lib.write('io.h', {}, a, []); }")
    result = cli.invoke(robot_run, [script])
    assert result.stdout.startswith("working")
    assert "--- ok in" in result.stderr and "wrote 1 record(s) of io.h" in result.stderr


def test_installed_robot_run_finds_its_javascript_from_any_directory(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = robot_file(tmp_path, "var lib = require('./libs/helpers');\n"
                        "function main() { print(lib.Dec2Hex(255)); }")
    exe = Path(sys.executable).parent / "robot-run"
    done = subprocess.run([str(exe), script, "--json", "--db", str(tmp_path / "x.db")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["logs"] == [{"level": "info", "message": "FF"}]
