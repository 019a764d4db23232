"""robot user / token / share, in process with CliRunner, on a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from runtime.cli import robot


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ROBOT_DB", str(tmp_path / "lake.sqlite3"))
    return CliRunner()


def run(cli: CliRunner, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = cli.invoke(robot, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_token_create_prints_only_the_token_and_it_works(cli: CliRunner) -> None:
    assert run(cli, "user", "add", "ann@example.com")[0] == 0
    code, out, _ = run(cli, "token", "create", "--user", "ann@example.com")
    token = out.strip()
    assert code == 0 and out == token + "\n" and len(token) >= 22
    code, out, _ = run(cli, "share", "post", "io.t", "-", "--token", token, input='{"a": 1}')
    assert code == 0
    body = json.loads(run(cli, "share", "get", "io.t", "--token", token)[1])
    assert body["objs"][0]["owner"]["user"] == "ann@example.com"


def test_token_list_and_revoke(cli: CliRunner) -> None:
    run(cli, "user", "add", "ben")
    token = run(cli, "token", "create", "--user", "ben", "--pipe")[1].strip()
    listed = json.loads(run(cli, "token", "list", "--json")[1])
    assert [(t["user"], t["pipe"], t["expires_ms"], t["revoked"]) for t in listed] == [
        ("ben", True, None, False)]
    assert token not in json.dumps(listed)
    assert run(cli, "token", "revoke", token)[0] == 0
    assert json.loads(run(cli, "token", "list", "--json")[1])[0]["revoked"] is True
    assert run(cli, "token", "revoke", "never-issued")[0] == 2


def test_token_for_an_unknown_user_or_bad_duration_is_a_usage_error(cli: CliRunner) -> None:
    assert run(cli, "token", "create", "--user", "ghost")[0] == 2
    run(cli, "user", "add", "cat")
    assert run(cli, "token", "create", "--user", "cat", "--expires", "soon")[0] == 2
    assert run(cli, "token", "create", "--user", "cat", "--expires", "never")[0] == 0


@pytest.mark.parametrize("name, content", [
    ("rows.ndjson", '{"n": 1}\n\n{"n": 2}\n{"n": 3}\n'),
    ("rows.json", '[{"n": 1}, {"n": 2}, {"n": 3}]'),
    ("rows.csv", "n,label\n1,a\n2,b\n3,c\n"),
])
def test_each_uploads_one_record_per_element_line_or_row(cli: CliRunner, tmp_path: Path,
                                                          name: str, content: str) -> None:
    source = tmp_path / name
    source.write_text(content)
    code, _, err = run(cli, "share", "post", "io.up", str(source), "--each", "--tags", "x,y")
    assert code == 0 and "stored 3 record(s)" in err
    body = json.loads(run(cli, "share", "get", "io.up", "--tags", "x,y")[1])
    assert sorted(o["data"]["n"] for o in body["objs"]) == [1, 2, 3]


def test_a_bad_row_names_its_line_and_nothing_of_its_batch_is_stored(
        cli: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "bad.ndjson"
    source.write_text('{"n": 1}\n{"n": 2}\n{"n": oops}\n{"n": 4}\n')
    code, _, err = run(cli, "share", "post", "io.bad", str(source), "--each")
    assert code == 1 and f"{source}:3: malformed JSON" in err
    assert json.loads(run(cli, "share", "get", "io.bad")[1])["objs"] == []


def test_whole_file_is_one_record_without_each(cli: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "doc.json"
    source.write_text('[1, 2, 3]')
    run(cli, "share", "post", "io.doc", str(source))
    assert [o["data"] for o in json.loads(run(cli, "share", "get", "io.doc")[1])["objs"]] == [
        [1, 2, 3]]


def test_share_get_by_id_latest_and_delete(cli: CliRunner) -> None:
    for n in range(3):
        run(cli, "share", "post", "io.d", "-", input=json.dumps({"n": n}))
    latest = json.loads(run(cli, "share", "get", "io.d", "--latest")[1])["objs"]
    assert [o["data"]["n"] for o in latest] == [2]
    record_id = latest[0]["id"]
    assert json.loads(run(cli, "share", "get", "io.d", record_id)[1])["objs"][0]["id"] == record_id
    assert run(cli, "share", "delete", "io.d", record_id)[0] == 0
    code, _, err = run(cli, "share", "get", "io.d", record_id)
    assert code == 1 and "no record" in err


def test_user_password_lets_oauth_issue_tokens(cli: CliRunner, tmp_path: Path) -> None:
    from runtime.store.sqlite import SqliteStore

    run(cli, "user", "add", "dan", "--password", "pw")
    with SqliteStore(tmp_path / "lake.sqlite3") as store:
        assert store.check_password("dan", "pw") and not store.check_password("dan", "no")


def test_runs_and_logs_show_the_run_history(cli: CliRunner, tmp_path: Path) -> None:
    from runtime.store.runs import RunRecord
    from runtime.store.sqlite import SqliteStore

    with SqliteStore(tmp_path / "lake.sqlite3") as store:
        store.record_run(RunRecord("pull", "schedule", "ok", 1, 2, 3, 10, None,
                                   [{"level": "info", "message": "fetched 5"}], False, 5, []))
        failed = store.record_run(RunRecord(
            "pull", "schedule", "error", 20, 21, 22, 30,
            {"name": "TypeError", "message": "bad", "stack": "TypeError: bad\n    at x.js:1:1"},
            [], True, 0, []))
    code, out, _ = run(cli, "runs", "--robot", "pull", "--status", "error")
    assert code == 0 and out.startswith(f"{failed}  pull  schedule  error 8 ms")
    listed = json.loads(run(cli, "runs", "--json")[1])
    assert [r["status"] for r in listed] == ["error", "ok"]
    code, out, err = run(cli, "logs", str(failed))
    assert "[log cut at 64 KiB]" in out and "at x.js:1:1" in err
    assert run(cli, "logs", "999")[0] == 2
