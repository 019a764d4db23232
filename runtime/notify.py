"""Notifications for robots: e-mail over SMTP, SMS through Twilio's REST API, and
websocket messages. Each is bounded by the run's deadline; failures are raised as
:class:`HostCallError` for the host to turn into a ``{err: 1, msg}`` envelope.
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import quote, urlencode

from runtime.exceptions import HostCallError, NetworkError
from runtime.httpcalls import HttpCaller, Prepared

TWILIO_API = "https://api.twilio.com"


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes (``notify.smtp`` in a manifest, ``--smtp-*`` for robot-run)."""

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "robots@localhost"


def recipients(to: object) -> list[str]:
    """Addresses from ``"a@x, b@y"`` or a list of them.

    Raises:
        HostCallError: none given.
    """
    items = to if isinstance(to, list) else str(to or "").split(",")
    found = [str(item).strip() for item in items if str(item).strip()]
    if not found:
        raise HostCallError("no recipient given")
    return found


class Notifier:
    """Sends notifications for one runner.

    Args:
        smtp: the mail server, or None (e-mail then fails with a clear message).
        http: the HTTP caller Twilio requests go through (routes and policy apply).
    """

    def __init__(self, smtp: SmtpSettings | None, http: HttpCaller) -> None:
        self._smtp = smtp
        self._http = http

    @property
    def default_sender(self) -> str:
        """The sender of ``sendMicroshareEmail``."""
        return self._smtp.sender if self._smtp else "robots@localhost"

    def email(self, sender: str, to: object, subject: str, body: str, *,
              deadline: float) -> None:
        """Send one e-mail to every recipient.

        Raises:
            HostCallError: no SMTP server configured, or the server refused.
        """
        if self._smtp is None:
            raise HostCallError("no SMTP server configured (notify.smtp in the manifest, "
                                "--smtp-host for robot-run)")
        message = EmailMessage()
        message["From"], message["To"] = sender or self._smtp.sender, ", ".join(recipients(to))
        message["Subject"] = subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self._smtp.host, self._smtp.port,
                              timeout=_budget(deadline)) as server:
                if self._smtp.starttls:
                    server.starttls()
                if self._smtp.username:
                    server.login(self._smtp.username, self._smtp.password or "")
                server.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise HostCallError(f"e-mail not sent: {exc}") from exc

    def sms(self, sender: str, to: str, text: str, account_sid: str, auth_token: str, *,
            deadline: float) -> dict[str, object]:
        """Send an SMS through Twilio's Messages API; return Twilio's answer.

        Raises:
            HostCallError: Twilio refused, or no answer came.
        """
        url = (f"{TWILIO_API}/2010-04-01/Accounts/{quote(account_sid, safe='')}"
               "/Messages.json")
        request = Prepared("POST", url, {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": _basic(account_sid, auth_token)},
            urlencode({"From": sender, "To": to, "Body": text}).encode())
        answer = self._http.send(request, deadline=deadline, timeout_s=None)
        if not 200 <= answer.status < 300:
            raise HostCallError(f"SMS not sent: Twilio answered {answer.status}: "
                                f"{answer.text[:200]}")
        value = answer.value()
        return value if isinstance(value, dict) else {}

    def ws_message(self, uri: str, message: str, *, deadline: float) -> None:
        """Open a websocket, send one text message, close.

        Raises:
            HostCallError: the URI is not ws(s), or the connection failed.
        """
        if not uri.startswith(("ws://", "wss://")):
            raise HostCallError(f"{uri!r} is not a ws:// or wss:// URI")
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        self._http.check_destination("http" + uri[2:])
        try:
            with connect(uri, open_timeout=_budget(deadline), close_timeout=1,
                         proxy=None) as connection:
                connection.send(message)
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise HostCallError(f"websocket message not sent: {exc}") from exc


def _budget(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise NetworkError("no time left in the run", code="ETIMEDOUT", url="")
    return left


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
