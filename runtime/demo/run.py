"""``robot demo``: the whole product offline, on 127.0.0.1, for a bounded time.

Starts a simulated LiveObjects REST API and a simulated websocket feed of LoRaWAN
uplinks, writes a manifest that runs the documented LiveObjects robot unchanged
(its host routed to the simulator), the documented websocket robot block, and a
triggered robot decoding every payload into ``io.demo.readings``; serves it with
the daemon, shows a live summary, stops by itself (or on Ctrl-C) and says how to
look at what it stored.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from runtime.demo import liveobjects_api
from runtime.demo.uplinks_feed import UplinkFeed
from runtime.scheduler import Daemon
from runtime.store.base import Query, Store

TOKEN = "My_MS_token"
REC_TYPES = ("orange.liveobjects.siconia", "io.sage.device.packed", "io.demo.readings",
             "io.demo.alerts", "io.demo.summary")

MANIFEST = """// Written by `robot demo`: the documented robots, against local simulators.
store {{ path = "lake.sqlite3" }}
server {{ host = "127.0.0.1", port = {api_port} }}
tokens = [ {{ token = "{token}", user = "local" }} ]
http {{ routes {{ "https://liveobjects.orange-business.com" = "http://127.0.0.1:{lo_port}" }} }}
notify {{ smtp {{ host = "127.0.0.1", port = {smtp_port}, from = "robots@example.com" }} }}
views {{
  byDevice {{ recType = "io.demo.readings", pipeline = [
    {{ "$match" = {{ "data.readings.temperature_1" = {{ "$gt" = "${{min}}" }} }} }}
    {{ "$group" = {{ "_id" = "$data.device", "n" = {{ "$sum" = 1 }},
                    "avg" = {{ "$avg" = "$data.readings.temperature_1" }} }} }}
    {{ "$sort" = {{ "_id" = 1 }} }}
  ] }}
}}
robots = [
  {{ id = "liveobjects-pull", token = "{token}", script = "liveobjects.js",
    schedule {{ interval = 3s }} }}
  {{
    id = "My_WS_robot"            // friendly name
    token = "My_MS_token"         // owns the records it creates
    recType = "io.sage.device.packed"
    dType = "My_device"           // tag put on every record
    uri = "ws://127.0.0.1:{ws_port}/uplinks?Authorization=Basic+My_WS_token"
    authHeader = "Basic My_WS_header"
  }}
  {{ id = "decode-uplinks", token = "{token}", script = "decode_uplink.js",
    trigger {{ recType = "io.sage.device.packed" }} }}
  {{ id = "decode-liveobjects", token = "{token}", script = "decode_uplink.js",
    trigger {{ recType = "orange.liveobjects.siconia" }} }}
  {{ id = "too-warm", token = "{token}", script = "alert_threshold.js",
    trigger {{ recType = "io.demo.readings" }} }}
  {{ id = "report", token = "{token}", script = "view_report.js",
    schedule {{ interval = 5s, delay = 4s }} }}
]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SCRIPTS = ("liveobjects.js", "decode_uplink.js", "alert_threshold.js", "view_report.js")


def prepare(folder: Path, robots: Path, *, lo_port: int, ws_port: int, api_port: int,
            smtp_port: int) -> Path:
    """Write the demo's manifest and robots into ``folder``; return the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SCRIPTS:
        shutil.copyfile(robots / name, folder / name)
    manifest = folder / "demo.conf"
    manifest.write_text(MANIFEST.format(api_port=api_port, lo_port=lo_port, ws_port=ws_port,
                                        smtp_port=smtp_port, token=TOKEN))
    return manifest


class MailSink:
    """A local SMTP server that keeps count of what it was sent."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received = 0
        sink = self

        class Handler:
            async def handle_DATA(self, server: object, session: object,  # noqa: N802
                                  envelope: object) -> str:
                sink.received += 1
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=_free_port())
        self._controller.start()
        self.port = self._controller.port

    def close(self) -> None:
        """Stop the server."""
        self._controller.stop()


def counts(store: Store) -> dict[str, int]:
    """Records stored so far, per recType of the demo."""
    principal = store.authenticate(TOKEN)
    with store.session() as session:
        return {rt: session.query(principal, Query(rt, per_page=1)).total_count
                for rt in REC_TYPES}


def run(folder: Path, robots: Path, *, seconds: float,
        say: Callable[[str], None] = print) -> dict[str, int]:
    """Run the demo for ``seconds`` (or until Ctrl-C); return the final counts."""
    lo = liveobjects_api.serve(port=0, packets=5)
    feed = UplinkFeed(period_s=0.2)
    mail = MailSink()
    api_port = _free_port()
    manifest = prepare(folder, robots, lo_port=lo.server_address[1], ws_port=feed.port,
                       api_port=api_port, smtp_port=mail.port)
    daemon = Daemon(manifest, workers=2)
    final: dict[str, int] = {}

    async def summary() -> None:
        started = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(1.0)
            elapsed = asyncio.get_running_loop().time() - started
            now = await asyncio.to_thread(counts, daemon.store)
            runs = await asyncio.to_thread(daemon.store.runs, limit=100_000)
            failed = sum(r.status not in ("ok", "skipped") for r in runs)
            ws = daemon.robots["My_WS_robot"].feed
            say(f"[{elapsed:4.0f} s] " + "  ".join(f"{k}={v}" for k, v in now.items())
                + f"  runs={len(runs)} failed={failed} mails={mail.received}"
                + (f"  ws={'up' if ws.state.connected else 'down'}:{ws.state.messages}"
                   if ws else ""))
            if elapsed >= seconds:
                final.update(now)
                daemon.stop()
                return

    async def main() -> None:
        task: asyncio.Task[None] | None = None

        def ready(_: Daemon) -> None:
            nonlocal task
            task = asyncio.create_task(summary())

        say(f"demo: LiveObjects simulator on 127.0.0.1:{lo.server_address[1]}, uplink feed on "
            f"127.0.0.1:{feed.port}, share API on 127.0.0.1:{api_port}; {seconds:g} s "
            "(Ctrl-C stops sooner)")
        await daemon.run(ready=ready)
        if task is not None and not task.done():
            task.cancel()

    try:
        asyncio.run(main())
    finally:
        feed.close()
        mail.close()
        lo.shutdown()
        lo.server_close()
    return final or counts_after(folder)


def counts_after(folder: Path) -> dict[str, int]:
    """The counts, read from the store after the daemon closed it."""
    from runtime.store.sqlite import SqliteStore

    with SqliteStore(folder / "lake.sqlite3") as store:
        return counts(store)


def bundled_robots() -> Path:
    """The robots/ folder of a checkout, where the demo's scripts live."""
    here = Path(str(importlib.resources.files("runtime"))).parent / "robots"
    return here if here.is_dir() else Path("robots")
