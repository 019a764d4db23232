"""lib.sendEmail / sendMicroshareEmail against a real SMTP server on 127.0.0.1,
lib.sendSMS against a respx-mocked Twilio, lib.sendWSMessage against a real
websocket server; dry runs send nothing and report everything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from runtime.notify import SmtpSettings
from runtime.runner import Runner
from runtime.store.sqlite import SqliteStore
from tests.conftest import logs
from tests.daemon.conftest import FeedServer, free_port

LIB = "var lib = require('./libs/helpers');\n"


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos),
                           message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSettings, Inbox]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SmtpSettings("127.0.0.1", controller.port, sender="alerts@example.com"), inbox
    controller.stop()


def run(tmp_path: Path, store: SqliteStore, token: str, body: str,
        smtp: SmtpSettings | None = None, dry_run: bool = False) -> Any:
    script = tmp_path / "notify.js"
    script.write_text(LIB + "function main(text, auth) {\n" + body + "\n}")
    with Runner(store, smtp=smtp) as runner:
        return runner.run(script, "", token, dry_run=dry_run)


def test_send_email_reaches_every_recipient_with_its_headers(
        tmp_path: Path, store: SqliteStore, token: str,
        smtp: tuple[SmtpSettings, Inbox]) -> None:
    settings, inbox = smtp
    result = run(tmp_path, store, token, """
      var r = lib.sendEmail('robot@example.com', 'a@example.com, b@example.com',
                            'Threshold crossed', 'temp 31.2 on dev1');
      print(r.err, r.msg);""", settings)
    assert logs(result) == ["0 Success"]
    [(sender, rcpts, message)] = inbox.mails
    assert sender == "robot@example.com" and rcpts == ["a@example.com", "b@example.com"]
    assert message["Subject"] == "Threshold crossed"
    assert message["To"] == "a@example.com, b@example.com"
    assert message.get_payload().strip() == "temp 31.2 on dev1"


def test_send_microshare_email_uses_the_configured_sender(
        tmp_path: Path, store: SqliteStore, token: str,
        smtp: tuple[SmtpSettings, Inbox]) -> None:
    settings, inbox = smtp
    run(tmp_path, store, token, "lib.sendMicroshareEmail('ops@example.com', 'S', 'B');",
        settings)
    assert [(m[0], m[1]) for m in inbox.mails] == [("alerts@example.com", ["ops@example.com"])]


def test_email_without_a_server_answers_an_error_envelope(
        tmp_path: Path, store: SqliteStore, token: str) -> None:
    result = run(tmp_path, store, token,
                 "var r = lib.sendEmail('a@x', 'b@x', 's', 'b'); print(r.err, r.msg);")
    assert logs(result) == ["1 no SMTP server configured (notify.smtp in the manifest, "
                            "--smtp-host for robot-run)"]


@respx.mock
def test_send_sms_posts_to_twilio_with_basic_auth_and_a_form_body(
        tmp_path: Path, store: SqliteStore, token: str) -> None:
    route = respx.post("https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json").mock(
        return_value=httpx.Response(201, json={"sid": "SM1", "status": "queued"}))
    result = run(tmp_path, store, token, """
      var r = lib.sendSMS('+15550001', '+15550002', 'Door open', 'AC123', 'secret');
      print(r.err, r.msg);""")
    assert logs(result) == ["0 Success"]
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Basic QUMxMjM6c2VjcmV0"
    assert parse_qs(sent.content.decode()) == {"From": ["+15550001"], "To": ["+15550002"],
                                               "Body": ["Door open"]}
    assert "secret" not in json.dumps(result.report.notifications)


@respx.mock
def test_a_refused_sms_is_an_error_envelope(tmp_path: Path, store: SqliteStore,
                                            token: str) -> None:
    respx.post(url__startswith="https://api.twilio.com/").mock(
        return_value=httpx.Response(401, json={"message": "Authenticate"}))
    result = run(tmp_path, store, token,
                 "var r = lib.sendSMS('a', 'b', 't', 'AC1', 'x'); print(r.err, r.msg);")
    assert logs(result)[0].startswith("1 SMS not sent: Twilio answered 401")


def test_send_ws_message_reaches_a_websocket_server(tmp_path: Path, store: SqliteStore,
                                                   token: str) -> None:
    received: list[str] = []

    def listen(connection: Any) -> None:
        received.extend(connection)

    feed = FeedServer([listen])
    result = run(tmp_path, store, token,
                 f"var r = lib.sendWSMessage('ws://127.0.0.1:{feed.port}/alerts', "
                 "{alarm: 'smoke'}); print(r.err);")
    feed.close()
    assert logs(result) == ["0"] and received == ['{"alarm":"smoke"}']


def test_dry_run_sends_nothing_and_reports_every_notification(
        tmp_path: Path, store: SqliteStore, token: str,
        smtp: tuple[SmtpSettings, Inbox]) -> None:
    settings, inbox = smtp
    result = run(tmp_path, store, token, """
      lib.sendEmail('a@x', 'b@x', 'Hi', 'there');
      lib.sendSMS('1', '2', 'txt', 'AC9', 'tok');
      lib.sendWSMessage('ws://127.0.0.1:9/x', 'm');""", settings, dry_run=True)
    assert inbox.mails == []
    assert [(n["kind"], n["sent"]) for n in result.report.notifications] == [
        ("email", False), ("sms", False), ("websocket", False)]
    assert result.report.notifications[1]["args"] == ["1", "2", "txt", "AC9"]


def test_robot_run_smtp_options_and_json_report(tmp_path: Path,
                                                smtp: tuple[SmtpSettings, Inbox],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from runtime.cli import robot_run

    settings, inbox = smtp
    monkeypatch.setenv("ROBOT_DB", str(tmp_path / "lake.sqlite3"))
    script = tmp_path / "mail.js"
    script.write_text(LIB + "function main() { lib.sendMicroshareEmail('x@y', 'S', 'B'); }")
    done = CliRunner().invoke(robot_run, [
        str(script), "--smtp-host", "127.0.0.1", "--smtp-port", str(settings.port),
        "--mail-from", "bot@example.com", "--json"])
    body = json.loads(done.stdout)
    assert body["notifications"] == [{"kind": "email", "args": ["bot@example.com", "x@y", "S",
                                                                "B"], "sent": True}]
    assert inbox.mails[0][0] == "bot@example.com"


def test_manifest_notify_block_sets_the_mail_server(tmp_path: Path) -> None:
    from runtime.manifest import load

    path = tmp_path / "m.conf"
    path.write_text('notify { smtp { host = "mail.local", port = 2525, starttls = true, '
                    'from = "robots@example.com" } }\nrobots = []\n')
    smtp_settings = load(path).smtp
    assert smtp_settings == SmtpSettings("mail.local", 2525, None, None, True,
                                         "robots@example.com")
