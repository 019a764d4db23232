"""Manifests: HOCON in, checked dataclasses out, every problem named with file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runtime.cli import robot
from runtime.manifest import ManifestError, load, parse_duration

DOCUMENTED_WS_BLOCK = """{
  id = "My_WS_robot"            // friendly name
  token = "My_MS_token"         // owns the records it creates
  recType = "io.sage.device.packed"
  dType = "My_device"           // tag put on every record
  uri = "ws://my.websocket.uri?Authorization=Basic+My_WS_token"   // query auth stays in the URI
  authHeader = "Basic My_WS_header"                               // sent as the Authorization header
}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load(path)
    return caught.value.problems


def test_the_documented_websocket_block_is_a_robot_as_it_stands(tmp_path: Path) -> None:
    manifest = load(write(tmp_path, "ws.conf", DOCUMENTED_WS_BLOCK))
    [spec] = manifest.robots
    assert (spec.id, spec.token, spec.kind) == ("My_WS_robot", "My_MS_token", "websocket")
    assert spec.websocket is not None
    assert spec.websocket.uri == "ws://my.websocket.uri?Authorization=Basic+My_WS_token"
    assert (spec.websocket.rec_type, spec.websocket.d_type, spec.websocket.auth_header) == (
        "io.sage.device.packed", "My_device", "Basic My_WS_header")


def test_the_websocket_block_is_also_a_list_entry(tmp_path: Path) -> None:
    manifest = load(write(tmp_path, "m.conf", f"robots = [ {DOCUMENTED_WS_BLOCK} ]"))
    assert [r.kind for r in manifest.robots] == ["websocket"]


def test_a_folder_merges_its_files_and_settings(tmp_path: Path) -> None:
    write(tmp_path, "robot.js", "function main() {}")
    write(tmp_path, "a.conf", """
      store { path = "data/lake.sqlite3" }
      server { port = 9090 }
      tokens = [ { token = "t1", user = "alice", scope = "SHARE:WRITE" } ]
      http { routes { "https://lo.example.com" = "http://127.0.0.1:8911" } }
      triggers { maxDepth = 4 }
      robots = [ { id = "pull", token = "t1", script = "robot.js",
                   schedule { interval = 30s, delay = 5s }, overlap = queue } ]
    """)
    write(tmp_path, "b.conf", """
      robots = [
        { id = "nightly", token = "t1", script = "robot.js",
          schedule { cron = "0 3 * * *", timezone = "Europe/Paris" } }
        { id = "decoder", token = "t1", script = "robot.js", trigger { recType = "io.raw" },
          timeout = 2s, memory = 64, retention = 50 }
      ]
    """)
    manifest = load(tmp_path)
    assert manifest.store_path == tmp_path / "data" / "lake.sqlite3"
    assert (manifest.server_port, manifest.chain_depth) == (9090, 4)
    assert manifest.routes == (("https://lo.example.com", "http://127.0.0.1:8911"),)
    assert [t.scope for t in manifest.tokens] == ["SHARE:WRITE"]
    pull, nightly, decoder = manifest.robots
    assert pull.schedule is not None and (pull.schedule.interval_s, pull.schedule.delay_s,
                                          pull.overlap) == (30.0, 5.0, "queue")
    assert nightly.schedule is not None and nightly.schedule.timezone == "Europe/Paris"
    assert decoder.trigger is not None and decoder.trigger.rec_type == "io.raw"
    assert (decoder.timeout_s, decoder.memory_mb, decoder.retention) == (2.0, 64, 50)


def test_env_substitution_fills_secrets_and_a_missing_one_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "m.conf", """
      robots = [ { id = "r", token = ${?ROBOT_SECRET}, schedule { interval = 1m } } ]
    """)
    monkeypatch.setenv("ROBOT_SECRET", "s3cret")
    assert load(path).robots[0].token == "s3cret"
    monkeypatch.delenv("ROBOT_SECRET")
    assert problems(path) == [f"{path}: robots[0].token: required (a missing ${{?ENV}} "
                              "variable leaves it unset)"]


def test_every_problem_is_named_with_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "m.conf", """
      bogus = 1
      robots = [
        { id = "bad id!", token = "t", schedule { cron = "61 * * * *" } }
        { id = "two", token = "t", schedule { interval = "fast" }, trigger { recType = "x" } }
        { id = "ws", token = "t", uri = "http://nope", recType = "bad type" }
        { id = "z", token = "t", schedule { interval = 0 }, colour = "red", script = "none.js" }
      ]
    """)
    found = problems(path)
    assert f"{path}: bogus: unknown top-level key" in found[0]
    expected = [
        "robots[0].id: required", "robots[0].schedule.cron: '61 * * * *' is not a 5- or",
        "robots[1]: needs exactly one of", "robots[1].schedule.interval: 'fast' is not",
        "robots[2].uri: 'http://nope' is not a ws://", "robots[2].recType: invalid recType",
        "robots[3].colour: unknown robot key", "robots[3].script:",
        "robots[3].schedule.interval: must be above zero"]
    for fragment in expected:
        assert any(fragment in line for line in found), (fragment, found)


def test_a_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "m.conf", 'robots = [\n  { id = "a" token = \n]\n')
    [problem] = problems(path)
    assert problem.startswith(f"{path}:2:20: syntax:")


def test_duplicate_ids_and_settings_across_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.conf", 'server { port = 1 }\nrobots = [ { id = "r", token = "t", '
                              'schedule { interval = 1s } } ]')
    write(tmp_path, "b.conf", 'server { port = 2 }\nrobots = [ { id = "r", token = "t", '
                              'schedule { interval = 1s } } ]')
    found = problems(tmp_path)
    assert any("b.conf: server: already set in" in p for p in found)
    assert any("b.conf: robots[0].id: robot id 'r' already used in" in p for p in found)


@pytest.mark.parametrize("text, seconds", [
    (30, 30.0), ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_validate_command_says_valid_or_lists_problems(tmp_path: Path) -> None:
    good = write(tmp_path, "good.conf", DOCUMENTED_WS_BLOCK)
    bad = write(tmp_path, "bad.conf", "robots = [ { id = 1 } ]")
    runner = CliRunner()
    ok = runner.invoke(robot, ["validate", str(good)])
    assert ok.exit_code == 0 and "valid (1 file(s); 1 websocket)" in ok.output
    failed = runner.invoke(robot, ["validate", str(bad)])
    assert failed.exit_code == 1 and "robots[0].token: required" in failed.stderr
