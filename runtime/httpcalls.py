"""HTTP for robots: the ``authType`` conventions, routes, and httpx behind one boundary.

:func:`prepare` is pure (what a helper call means as a request); :class:`HttpCaller`
sends it, shrinking every timeout to the run's remaining budget, and translates
every httpx error into :class:`NetworkError` here and nowhere else.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

from runtime.exceptions import HttpStatusError, NetworkError, UsageError

_AUTH_KEYS = {
    "BASIC": ("username", "password"),
    "OAUTH2": ("token",),
    "CUSTOM": ("headerName", "headerValue"),
    "API": ("apiKey",),
}


@dataclass(frozen=True)
class Route:
    """Send every request whose URL starts with ``prefix`` to ``target`` instead."""

    prefix: str
    target: str

    @classmethod
    def parse(cls, text: str) -> Route:
        """Parse ``FROM=TO`` (as ``robot-run --route`` takes it).

        Raises:
            UsageError: not of that form, or either side is not an http(s) URL.
        """
        prefix, sep, target = text.partition("=")
        if not sep or not prefix or not target:
            raise UsageError(f"route {text!r}: expected FROM=TO")
        for side in (prefix, target):
            if not side.startswith(("http://", "https://")):
                raise UsageError(f"route {text!r}: {side!r} is not an http(s) URL")
        return cls(prefix.rstrip("/"), target.rstrip("/"))


def apply_routes(url: str, routes: Sequence[Route]) -> str:
    """Return ``url`` with the first matching route's prefix replaced."""
    for route in routes:
        if url == route.prefix or url.startswith(route.prefix + "/") or \
                url.startswith(route.prefix + "?"):
            return route.target + url[len(route.prefix):]
    return url


@dataclass
class Prepared:
    """A request as it will be sent."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


def prepare(method: str, url: object, headers: object, body: object) -> Prepared:
    """Turn a helper's arguments into a request (ROBOT_API.md §3, control keys consumed).

    Raises:
        NetworkError: ``url`` is not a string (code ``EINVAL``).
    """
    if not isinstance(url, str) or not url:
        raise NetworkError(f"invalid URL {url!r}", code="EINVAL", url=str(url))
    given = dict(headers) if isinstance(headers, dict) else {}
    out: dict[str, str] = {}
    auth_type = str(given.pop("authType", "")).upper()
    if auth_type in _AUTH_KEYS:
        values = [str(given.pop(key, "")) for key in _AUTH_KEYS[auth_type]]
        out.update(_auth_header(auth_type, values))
    content_type = given.pop("contentType", None)
    for key, value in given.items():
        if value is not None:
            out[str(key)] = value if isinstance(value, str) else json.dumps(value)
    content: bytes | None = None
    if isinstance(body, str):
        content = body.encode("utf-8")
    elif body is not None:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        out.setdefault("Content-Type", "application/json")
    if content_type:
        out["Content-Type"] = str(content_type)
    return Prepared(method.upper(), url, out, content)


def _auth_header(auth_type: str, values: list[str]) -> dict[str, str]:
    if auth_type == "BASIC":
        pair = f"{values[0]}:{values[1]}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if auth_type == "OAUTH2":
        return {"Authorization": f"Bearer {values[0]}"}
    if auth_type == "CUSTOM":
        return {values[0]: values[1]} if values[0] else {}
    return {"X-API-Key": values[0]}


@dataclass(frozen=True)
class Answer:
    """What came back."""

    status: int
    headers: dict[str, str]
    text: str
    is_json: bool

    def value(self) -> Any:
        """The decoded JSON when the answer is JSON, else the text."""
        if self.is_json:
            try:
                return json.loads(self.text) if self.text.strip() else None
            except ValueError:
                return self.text
        return self.text


@dataclass(frozen=True)
class Destinations:
    """Where robots' requests may go. ``allow`` wins over ``deny``; each entry is a CIDR
    block or a host name. The default refuses link-local addresses and cloud metadata."""

    deny: tuple[str, ...] = ("169.254.0.0/16", "fe80::/10", "metadata.google.internal",
                             "metadata.azure.com")
    allow: tuple[str, ...] = ()

    def check(self, url: str) -> None:
        """Refuse ``url`` if its host, or an address it resolves to, is denied.

        Raises:
            NetworkError: code ``EPOLICY``, naming the rule.
        """
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if not host or self._listed(host, self.allow):
            return
        rule = self._listed(host, self.deny)
        if rule is None:
            rule = next((r for ip in _addresses(host) if not self._listed(ip, self.allow)
                         for r in [self._listed(ip, self.deny)] if r), None)
        if rule is not None:
            raise NetworkError(f"{url}: refused by the network policy (deny {rule})",
                               code="EPOLICY", url=url)

    @staticmethod
    def _listed(host_or_ip: str, rules: tuple[str, ...]) -> str | None:
        try:
            address = ipaddress.ip_address(host_or_ip)
        except ValueError:
            address = None
        for rule in rules:
            if address is None:
                if host_or_ip == rule.lower() or host_or_ip.endswith("." + rule.lower()):
                    return rule
                continue
            try:
                if address in ipaddress.ip_network(rule, strict=False):
                    return rule
            except ValueError:
                continue
        return None


def _addresses(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except OSError:
        return []  # httpx reports the failure to resolve


class HttpCaller:
    """Sends prepared requests through one httpx client.

    Args:
        client: the httpx client to use; without one, a client is made on the first
            request (importing httpx costs a robot that makes no request ~70 ms) and
            closed by :meth:`close`.
        routes: URL prefixes sent elsewhere.
        destinations: where requests may go (checked after routing).
    """

    def __init__(self, client: httpx.Client | None = None, routes: Sequence[Route] = (),
                 destinations: Destinations | None = None) -> None:
        self._client = client
        self._destinations = destinations or Destinations()
        self._own_client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._routes = tuple(routes)

    def _http(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import httpx

                    self._own_client = self._client = httpx.Client(follow_redirects=True)
        return self._client

    def check_destination(self, url: str) -> None:
        """Refuse ``url`` (after routing) if the network policy denies it.

        Raises:
            NetworkError: code ``EPOLICY``.
        """
        self._destinations.check(apply_routes(url, self._routes))

    def close(self) -> None:
        """Close the client this caller made, if it made one."""
        if self._own_client is not None:
            self._own_client.close()
            self._own_client = None

    def send(self, request: Prepared, *, deadline: float, timeout_s: float | None) -> Answer:
        """Send ``request``; give up at ``deadline`` (``time.monotonic()``) at the latest.

        Raises:
            NetworkError: no answer (refused, unreachable, timed out, bad URL).
        """
        url = apply_routes(request.url, self._routes)
        self._destinations.check(url)
        budget = deadline - time.monotonic()
        if timeout_s is not None:
            budget = min(budget, timeout_s)
        if budget <= 0:
            raise NetworkError(f"no time left for {request.method} {url}", code="ETIMEDOUT",
                               url=url)
        client = self._http()
        import httpx

        try:
            response = client.request(request.method, url, headers=request.headers,
                                            content=request.content, timeout=budget)
        except httpx.TimeoutException as exc:
            raise NetworkError(f"{request.method} {url} timed out", code="ETIMEDOUT",
                               url=url) from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise NetworkError(f"invalid URL {url}: {exc}", code="EINVAL", url=url) from exc
        except httpx.ConnectError as exc:
            raise NetworkError(f"{request.method} {url} could not connect: {exc}",
                               code="ECONNREFUSED", url=url) from exc
        except httpx.HTTPError as exc:
            raise NetworkError(f"{request.method} {url} failed: {exc}", code="ENETWORK",
                               url=url) from exc
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        return Answer(response.status_code, dict(response.headers), response.text,
                      kind == "application/json" or kind.endswith("+json"))


def check_status(answer: Answer, url: str) -> Any:
    """Return the answer's value when 2xx.

    Raises:
        HttpStatusError: any other status.
    """
    if 200 <= answer.status < 300:
        return answer.value()
    raise HttpStatusError(answer.status, url, answer.text)
