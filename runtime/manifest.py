"""Manifests: HOCON files -> frozen dataclasses. The only module importing pyhocon.

``robot serve PATH`` and ``robot validate PATH`` take one ``.conf`` file or a folder
of them. Every problem found is reported at once, each naming the file, the line
(where pyhocon gives one: syntax errors), the key path and what is wrong; a
manifest with any problem starts nothing.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.exceptions import InvalidRecord, UsageError
from runtime.notify import SmtpSettings
from runtime.records import check_rec_type, check_tags
from runtime.store.base import View

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 128
DEFAULT_RETENTION = 1000
DEFAULT_MISFIRE_GRACE_S = 60.0
DEFAULT_CHAIN_DEPTH = 8
DEFAULT_DENY = ("169.254.0.0/16", "fe80::/10", "metadata.google.internal",
                "metadata.azure.com")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_ROBOT_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_WS_FIELDS = ("uri", "recType", "dType", "authHeader")


class ManifestError(UsageError):
    """A manifest has problems; ``problems`` lists each, already worded for a person."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid manifest:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TokenSpec:
    """A token the manifest registers."""

    token: str
    user: str
    pipe: bool = False
    scope: str = "ALL:ALL"


@dataclass(frozen=True)
class Schedule:
    """When a scheduled robot runs: a cron line, or a delay and/or an interval."""

    cron: str | None = None
    timezone: str = "UTC"
    interval_s: float | None = None
    delay_s: float | None = None


@dataclass(frozen=True)
class WebsocketFeed:
    """A feed whose every message becomes a record (or a run, with a script)."""

    uri: str
    rec_type: str
    d_type: str | None = None
    auth_header: str | None = None


@dataclass(frozen=True)
class RecordTrigger:
    """Run when a record of ``rec_type`` is created."""

    rec_type: str


@dataclass(frozen=True)
class RobotSpec:
    """One robot of the manifest."""

    id: str
    token: str
    source: Path
    script: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    enabled: bool = True
    overlap: str = "skip"
    misfire_grace_s: float = DEFAULT_MISFIRE_GRACE_S
    retention: int = DEFAULT_RETENTION
    schedule: Schedule | None = None
    websocket: WebsocketFeed | None = None
    trigger: RecordTrigger | None = None

    @property
    def kind(self) -> str:
        """``schedule``, ``websocket`` or ``trigger``."""
        if self.schedule is not None:
            return "schedule"
        return "websocket" if self.websocket is not None else "trigger"


@dataclass(frozen=True)
class NetworkPolicy:
    """Where robots' HTTP may go: ``allow`` wins over ``deny``; entries are CIDR
    blocks or host names."""

    deny: tuple[str, ...] = DEFAULT_DENY
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """Everything ``robot serve`` runs."""

    files: tuple[Path, ...]
    store_path: Path | None = None
    server_host: str = "127.0.0.1"
    server_port: int = 8080
    tokens: tuple[TokenSpec, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    chain_depth: int = DEFAULT_CHAIN_DEPTH
    smtp: SmtpSettings | None = None
    views: tuple[View, ...] = ()
    robots: tuple[RobotSpec, ...] = ()


def manifest_files(path: Path) -> list[Path]:
    """The ``.conf`` files of ``path`` (a file, or a folder's, sorted).

    Raises:
        ManifestError: nothing to read there.
    """
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".conf" and p.is_file())
        if not files:
            raise ManifestError([f"{path}: no .conf files in this folder"])
        return files
    if not path.is_file():
        raise ManifestError([f"{path}: no such manifest file"])
    return [path]


def load(path: Path) -> Manifest:
    """Read and check the manifest at ``path``.

    Raises:
        ManifestError: every problem found, each naming file, line or key, and what.
    """
    files = manifest_files(path)
    reader = _Reader()
    for file in files:
        reader.read_file(file)
    return reader.finish(tuple(files))


class Problems:
    """Every problem met while reading, worded for a person."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __len__(self) -> int:
        return len(self.lines)

    def __call__(self, file: Path, key: str, what: str) -> None:
        self.lines.append(f"{file}: {key}: {what}" if key else f"{file}: {what}")


class _Reader:
    """Collects settings and robots from several files, and every problem met."""

    def __init__(self) -> None:
        self.problem = Problems()
        self.settings: dict[str, Any] = {}
        self.robots: list[RobotSpec] = []

    def read_file(self, file: Path) -> None:
        tree = _parse(file, self.problem.lines)
        if tree is None:
            return
        if "uri" in tree and "robots" not in tree:  # the documented websocket block alone
            self._robot(file, "", tree)
            return
        for key in tree:
            if key not in ("store", "server", "tokens", "http", "network", "robots", "triggers",
                           "notify", "views"):
                self.problem(file, key, "unknown top-level key (store, server, tokens, http, "
                             "network, triggers, notify, views, robots)")
        self._settings(file, tree)
        robots = tree.get("robots", [])
        if not isinstance(robots, list):
            self.problem(file, "robots", "must be a list of robot blocks")
            return
        for index, entry in enumerate(robots):
            if not isinstance(entry, dict):
                self.problem(file, f"robots[{index}]", "must be a block { ... }")
                continue
            self._robot(file, f"robots[{index}]", entry)

    def _settings(self, file: Path, tree: dict[str, Any]) -> None:
        for key in ("store", "server", "http", "network", "triggers", "notify", "views"):
            if key in tree:
                if key in self.settings:
                    self.problem(file, key, f"already set in {self.settings[key][0]}")
                    continue
                self.settings[key] = (file, tree[key])
        if "tokens" in tree:
            self.settings.setdefault("tokens", []).append((file, tree["tokens"]))

    def _robot(self, file: Path, at: str, entry: dict[str, Any]) -> None:
        spec = _robot_spec(file, at, entry, self.problem)
        if spec is None:
            return
        clash = next((r for r in self.robots if r.id == spec.id), None)
        if clash is not None:
            self.problem(file, f"{at}.id" if at else "id",
                         f"robot id {spec.id!r} already used in {clash.source}")
            return
        self.robots.append(spec)

    def finish(self, files: tuple[Path, ...]) -> Manifest:
        manifest = Manifest(files=files, robots=tuple(self.robots))
        store = self._block("store")
        if store is not None:
            file, tree = store
            if "path" in tree:
                manifest = _replace(manifest, store_path=(file.parent / str(tree["path"])))
        server = self._block("server")
        if server is not None:
            file, tree = server
            manifest = _replace(manifest, server_host=str(tree.get("host", "127.0.0.1")),
                                server_port=_int(file, "server.port", tree.get("port", 8080),
                                                 self.problem, 0, 65535))
        manifest = _replace(manifest, tokens=tuple(self._tokens()), routes=self._routes(),
                            network=self._network(), chain_depth=self._chain_depth(),
                            smtp=self._smtp(), views=self._views())
        if self.problem:
            raise ManifestError(self.problem.lines)
        return manifest

    def _block(self, key: str) -> tuple[Path, dict[str, Any]] | None:
        found = self.settings.get(key)
        if found is None:
            return None
        file, tree = found
        if not isinstance(tree, dict):
            self.problem(file, key, "must be a block { ... }")
            return None
        return file, tree

    def _tokens(self) -> list[TokenSpec]:
        specs = []
        for file, entries in self.settings.get("tokens", []):
            if not isinstance(entries, list):
                self.problem(file, "tokens", "must be a list of { token, user } blocks")
                continue
            for index, entry in enumerate(entries):
                at = f"tokens[{index}]"
                if not isinstance(entry, dict) or not entry.get("token") or not entry.get(
                        "user"):
                    self.problem(file, at, "needs token and user (a missing ${?ENV} "
                                 "variable leaves token unset)")
                    continue
                specs.append(TokenSpec(str(entry["token"]), str(entry["user"]),
                                       bool(entry.get("pipe", False)),
                                       str(entry.get("scope", "ALL:ALL"))))
        return specs

    def _routes(self) -> tuple[tuple[str, str], ...]:
        http = self._block("http")
        if http is None:
            return ()
        file, tree = http
        routes = tree.get("routes", {})
        if not isinstance(routes, dict):
            self.problem(file, "http.routes", "must be a block of \"FROM\" = \"TO\"")
            return ()
        pairs = []
        for source, target in _flatten(routes):
            for side in (source, str(target)):
                if not side.startswith(("http://", "https://")):
                    self.problem(file, f"http.routes.{source}", f"{side!r} is not an "
                                 "http(s) URL (quote URLs used as keys)")
            pairs.append((source.rstrip("/"), str(target).rstrip("/")))
        return tuple(pairs)

    def _network(self) -> NetworkPolicy:
        block = self._block("network")
        if block is None:
            return NetworkPolicy()
        file, tree = block
        lists = {}
        for key in ("deny", "allow"):
            values = tree.get(key, [])
            if not isinstance(values, list):
                self.problem(file, f"network.{key}", "must be a list")
                values = []
            for value in values:
                if not _network_entry_ok(str(value)):
                    self.problem(file, f"network.{key}", f"{value!r} is neither a CIDR "
                                 "block nor a host name")
            lists[key] = tuple(str(v) for v in values)
        return NetworkPolicy(deny=DEFAULT_DENY + lists["deny"], allow=lists["allow"])

    def _views(self) -> tuple[View, ...]:
        block = self._block("views")
        if block is None:
            return ()
        file, tree = block
        found = []
        for view_id, body in tree.items():
            try:
                found.append(_view_from(view_id, body))
            except InvalidRecord as exc:
                self.problem(file, f"views.{view_id}", str(exc))
        return tuple(found)

    def _smtp(self) -> SmtpSettings | None:
        block = self._block("notify")
        if block is None:
            return None
        file, tree = block
        smtp = tree.get("smtp")
        if not isinstance(smtp, dict) or not smtp.get("host"):
            self.problem(file, "notify.smtp", "needs a block with at least host")
            return None
        return SmtpSettings(str(smtp["host"]),
                            _int(file, "notify.smtp.port", smtp.get("port", 25), self.problem,
                                 1, 65535),
                            None if smtp.get("username") is None else str(smtp["username"]),
                            None if smtp.get("password") is None else str(smtp["password"]),
                            bool(smtp.get("starttls", False)),
                            str(smtp.get("from", "robots@localhost")))

    def _chain_depth(self) -> int:
        block = self._block("triggers")
        if block is None:
            return DEFAULT_CHAIN_DEPTH
        file, tree = block
        return _int(file, "triggers.maxDepth", tree.get("maxDepth", DEFAULT_CHAIN_DEPTH),
                    self.problem, 1, 100)


def _parse(file: Path, problems: list[str]) -> dict[str, Any] | None:
    from pyhocon import ConfigFactory  # this module is the only pyhocon user
    from pyparsing import ParseBaseException

    try:
        tree = ConfigFactory.parse_file(str(file), resolve=True)
    except ParseBaseException as exc:
        problems.append(f"{file}:{exc.lineno}:{exc.col}: syntax: {exc.msg}")
        return None
    except Exception as exc:  # noqa: BLE001 - pyhocon raises several unrelated kinds
        problems.append(f"{file}: {type(exc).__name__}: {exc}")
        return None
    return _plain(tree)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    """pyhocon's trees and lists as plain dicts and lists (durations kept as they are;
    the quotes pyhocon keeps around a quoted key, such as "$match", dropped)."""
    if isinstance(value, dict):
        return {_unquote(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _view_from(view_id: str, body: Any) -> View:
    from runtime.views import view_from_json  # the API's check of a view, too

    return view_from_json(view_id, body, owner=None)


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _robot_spec(file: Path, at: str, entry: dict[str, Any], problem: Problems
                ) -> RobotSpec | None:
    prefix = f"{at}." if at else ""
    before = len(problem)
    known = {"id", "token", "script", "timeout", "memory", "enabled", "overlap",
             "misfireGrace", "retention", "schedule", "trigger", *_WS_FIELDS}
    for key in entry:
        if key not in known:
            problem(file, prefix + key, "unknown robot key")
    robot_id = entry.get("id")
    if not isinstance(robot_id, str) or not _ROBOT_ID.match(robot_id):
        problem(file, prefix + "id", "required: 1-100 characters of A-Z a-z 0-9 . _ -")
    token = entry.get("token")
    if not isinstance(token, str) or not token:
        problem(file, prefix + "token", "required (a missing ${?ENV} variable leaves it unset)")
    script = entry.get("script")
    script_path = None
    if script is not None:
        script_path = (file.parent / str(script))
        if not script_path.is_file():
            problem(file, prefix + "script", f"{script_path}: no such file")
    triggers = [k for k in ("schedule", "trigger") if k in entry] + (
        ["websocket"] if "uri" in entry else [])
    if len(triggers) != 1:
        problem(file, prefix.rstrip(".") or "robot", "needs exactly one of schedule { }, "
                "trigger { recType }, or the websocket fields (uri, recType, dType)"
                + (f"; found {', '.join(triggers)}" if triggers else ""))
    schedule = _schedule(file, prefix, entry.get("schedule"), problem) if "schedule" in entry \
        else None
    trigger = _record_trigger(file, prefix, entry.get("trigger"), problem) \
        if "trigger" in entry else None
    feed = _websocket(file, prefix, entry, problem) if "uri" in entry else None
    overlap = str(entry.get("overlap", "skip"))
    if overlap not in ("skip", "queue"):
        problem(file, prefix + "overlap", "must be skip or queue")
    timeout = _duration(file, prefix + "timeout", entry.get("timeout", DEFAULT_TIMEOUT_S),
                        problem)
    grace = _duration(file, prefix + "misfireGrace",
                      entry.get("misfireGrace", DEFAULT_MISFIRE_GRACE_S), problem)
    memory = _int(file, prefix + "memory", entry.get("memory", DEFAULT_MEMORY_MB), problem,
                  8, 65536)
    retention = _int(file, prefix + "retention", entry.get("retention", DEFAULT_RETENTION),
                     problem, 1, 10_000_000)
    if len(problem) > before:
        return None
    return RobotSpec(id=str(robot_id), token=str(token), source=file, script=script_path,
                     timeout_s=timeout or DEFAULT_TIMEOUT_S, memory_mb=memory,
                     enabled=bool(entry.get("enabled", True)), overlap=overlap,
                     misfire_grace_s=grace if grace is not None else DEFAULT_MISFIRE_GRACE_S,
                     retention=retention, schedule=schedule, websocket=feed, trigger=trigger)


def _schedule(file: Path, prefix: str, block: Any, problem: Problems) -> Schedule | None:
    at = prefix + "schedule"
    if not isinstance(block, dict):
        problem(file, at, "must be a block { cron | interval | delay }")
        return None
    for key in block:
        if key not in ("cron", "timezone", "interval", "delay"):
            problem(file, f"{at}.{key}", "unknown schedule key (cron, timezone, interval, delay)")
    cron = block.get("cron")
    if cron is not None and ("interval" in block or "delay" in block):
        problem(file, at, "cron does not combine with interval or delay")
    if cron is None and "interval" not in block and "delay" not in block:
        problem(file, at, "needs cron, interval or delay")
    if cron is not None:
        from croniter import croniter

        fields = str(cron).split()
        if len(fields) not in (5, 6) or not croniter.is_valid(str(cron)):
            problem(file, f"{at}.cron", f"{cron!r} is not a 5- or 6-field cron line")
    timezone = str(block.get("timezone", "UTC"))
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problem(file, f"{at}.timezone", f"unknown time zone {timezone!r}")
    interval = _duration(file, f"{at}.interval", block.get("interval"), problem)
    delay = _duration(file, f"{at}.delay", block.get("delay"), problem, allow_zero=True)
    return Schedule(cron=None if cron is None else str(cron), timezone=timezone,
                    interval_s=interval, delay_s=delay)


def _record_trigger(file: Path, prefix: str, block: Any, problem: Problems) -> RecordTrigger | None:
    at = prefix + "trigger"
    rec_type = block.get("recType") if isinstance(block, dict) else None
    try:
        return RecordTrigger(check_rec_type(rec_type))
    except InvalidRecord as exc:
        problem(file, f"{at}.recType", str(exc))
        return None


def _websocket(file: Path, prefix: str, entry: dict[str, Any], problem: Problems
               ) -> WebsocketFeed | None:
    uri = str(entry.get("uri", ""))
    if not uri.startswith(("ws://", "wss://")):
        problem(file, prefix + "uri", f"{uri!r} is not a ws:// or wss:// URI")
    try:
        rec_type = check_rec_type(entry.get("recType"))
    except InvalidRecord as exc:
        problem(file, prefix + "recType", str(exc))
        return None
    d_type = entry.get("dType")
    if d_type is not None:
        try:
            check_tags([str(d_type)])
        except InvalidRecord as exc:
            problem(file, prefix + "dType", str(exc))
    header = entry.get("authHeader")
    return WebsocketFeed(uri, rec_type, None if d_type is None else str(d_type),
                         None if header is None else str(header))


def parse_duration(value: Any) -> float | None:
    """Seconds in a duration: a number of seconds, ``"500ms"``, ``"30s"``, ``"5m"``,
    ``"2h"``, ``"1d"``, or what pyhocon makes of an unquoted ``30s``.

    Raises:
        ValueError: none of those.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "days") and hasattr(value, "seconds"):  # relativedelta / timedelta
        seconds = getattr(value, "seconds", 0) + 60 * getattr(value, "minutes", 0) + \
            3600 * getattr(value, "hours", 0) + 86400 * getattr(value, "days", 0) + \
            getattr(value, "microseconds", 0) / 1e6
        if hasattr(value, "total_seconds") and not hasattr(value, "minutes"):
            seconds = value.total_seconds()
        return float(seconds)
    found = _DURATION.match(str(value))
    if found is None:
        raise ValueError(f"{value!r} is not a duration (30s, 5m, 2h, 1d, 500ms)")
    return float(found.group(1)) * _UNITS[found.group(2)]


def _duration(file: Path, key: str, value: Any, problem: Problems, *, allow_zero: bool = False
              ) -> float | None:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        problem(file, key, str(exc))
        return None
    if seconds is not None and (seconds < 0 or (seconds == 0 and not allow_zero)):
        problem(file, key, "must be above zero")
        return None
    return seconds


def _int(file: Path, key: str, value: Any, problem: Problems, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problem(file, key, f"must be a whole number from {low} to {high}, got {value!r}")
        return low
    return value


def _flatten(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Unquoted URL keys come back from HOCON as nested paths; quoted ones whole."""
    pairs = []
    for raw_key, value in tree.items():
        key = raw_key.strip('"')  # pyhocon keeps the quotes of a quoted key
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            pairs.extend(_flatten(value, full))
        else:
            pairs.append((full, value))
    return pairs


def _network_entry_ok(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
        return True
    except ValueError:
        return bool(re.match(r"^[A-Za-z0-9.-]+$", entry))


def _replace(manifest: Manifest, **changes: Any) -> Manifest:
    from dataclasses import replace

    return replace(manifest, **changes)
