"""Benchmarks of robots that run themselves: websocket ingest, schedule lateness,
trigger latency, and host calls during ingest. A real `robot serve` process; the
feed and the clients live in this process on 127.0.0.1; every load is bounded."""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.report import free_port, run_and_print, wait_until_serving
from runtime.store.base import Query
from runtime.store.sqlite import SqliteStore

BIN = Path(sys.executable).parent
TOKEN = "bench-token"


class BlastFeed:
    """Sends ``count`` small JSON messages as fast as it can to its first client."""

    def __init__(self, count: int) -> None:
        from websockets.sync.server import serve

        self.count = count
        self.sent_at: float | None = None
        self.done_at: float | None = None
        self._messages = [json.dumps({"device": f"d{n % 50}", "n": n, "temp": 21.5})
                          for n in range(count)]
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, connection: Any) -> None:
        if self.sent_at is not None:
            return
        self.sent_at = time.perf_counter()
        for message in self._messages:
            connection.send(message)
        self.done_at = time.perf_counter()
        try:
            for _ in connection:
                pass
        except Exception:  # noqa: BLE001 - the daemon went away: the end of the feed
            pass

    def close(self) -> None:
        self._server.shutdown()


class Served:
    """`robot serve` on a generated manifest."""

    def __init__(self, folder: Path, robots: str, scripts: dict[str, str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in scripts.items():
            (folder / name).write_text(text)
        self.port = free_port()
        self.db = folder / "lake.sqlite3"
        (folder / "m.conf").write_text(
            f'store {{ path = "lake.sqlite3" }}\nserver {{ port = {self.port} }}\n'
            f'tokens = [ {{ token = "{TOKEN}", user = "bench" }} ]\nrobots = [\n{robots}\n]\n')
        self.process = subprocess.Popen([str(BIN / "robot"), "serve", str(folder / "m.conf")],
                                        stderr=subprocess.DEVNULL)
        wait_until_serving(f"http://127.0.0.1:{self.port}")

    def count(self, rec_type: str) -> int:
        with SqliteStore(self.db) as store, store.session() as session:
            page = session.query(store.authenticate(TOKEN), Query(rec_type, per_page=1))
        return page.total_count

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)


def bench_ingest(folder: Path, messages: int = 200_000) -> dict[str, float]:
    feed = BlastFeed(messages)
    served = Served(folder / "ingest", f'{{ id = "feed", token = "{TOKEN}", '
                    f'recType = "bench.ws", dType = "dev", uri = "ws://127.0.0.1:{feed.port}/" }}',
                    {})
    deadline = time.monotonic() + 120
    while served.count("bench.ws") < messages and time.monotonic() < deadline:
        time.sleep(0.05)
    stored_at = time.perf_counter()
    served.stop()
    feed.close()
    stored = served.count("bench.ws")
    assert feed.sent_at is not None
    return {"messages_per_s": stored / (stored_at - feed.sent_at), "sent": messages,
            "stored": stored, "lost": messages - stored}


def bench_lateness(folder: Path, robots: int = 100, seconds: float = 15) -> dict[str, float]:
    script = "function main(text, auth) {}"
    entries = "\n".join(f'{{ id = "tick{n:03d}", token = "{TOKEN}", script = "noop.js", '
                        f'schedule {{ interval = 1s }} }}' for n in range(robots))
    served = Served(folder / "lateness", entries, {"noop.js": script})
    time.sleep(seconds)
    served.stop()
    with SqliteStore(served.db) as store:
        runs = store.runs(limit=1_000_000)
    late = sorted(r.fired_ms - r.scheduled_ms for r in runs if r.scheduled_ms is not None)
    return {"fires": len(late), "p50_ms": statistics.median(late),
            "p99_ms": late[int(len(late) * 0.99) - 1], "skipped": sum(
                r.status == "skipped" for r in runs)}


def bench_trigger_latency(folder: Path, records: int = 200) -> dict[str, float]:
    script = """var lib = require('./libs/helpers');
    function main(text, auth) { var started = Date.now(); var m = lib.parseMsg(text);
      lib.write('bench.out', {started: started, created: m.objs[0].createDate.$date,
                              sent: m.objs[0].data.sent}, auth, []); }"""
    served = Served(folder / "trigger", f'{{ id = "react", token = "{TOKEN}", '
                    'script = "react.js", trigger { recType = "bench.in" } }', {"react.js": script})
    with httpx.Client(base_url=f"http://127.0.0.1:{served.port}",
                      headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for n in range(records):
            answer = client.post("/share/bench.in", json={"sent": n})
            assert answer.status_code == 201
            time.sleep(0.02)
    deadline = time.monotonic() + 60
    while served.count("bench.out") < records and time.monotonic() < deadline:
        time.sleep(0.05)
    served.stop()
    with SqliteStore(served.db) as store, store.session() as session:
        outs = session.query(store.authenticate(TOKEN),
                             Query("bench.out", per_page=records)).records
    # From the record's creation time, which is a little before its commit: if anything
    # this overstates the latency.
    latency = sorted(o.data["started"] - o.data["created"] for o in outs)
    return {"runs": len(latency), "p50_ms": statistics.median(latency),
            "p99_ms": latency[int(len(latency) * 0.99) - 1]}


def bench_host_calls_under_ingest(folder: Path) -> dict[str, float]:
    feed = BlastFeed(400_000)
    probe = """var lib = require('./libs/helpers');
    function main(text, auth) {
      var samples = [];
      for (var b = 0; b < 20; b++) {
        var t0 = Date.now();
        for (var i = 0; i < 500; i++) lib.say('');
        samples.push((Date.now() - t0) * 1000 / 500);
      }
      samples.sort(function (a, b) { return a - b; });
      lib.write('bench.probe', {p50_us: samples[10]}, auth, []);
    }"""
    served = Served(folder / "probe",
                    f'{{ id = "feed", token = "{TOKEN}", recType = "bench.ws", '
                    f'uri = "ws://127.0.0.1:{feed.port}/" }}\n'
                    f'{{ id = "probe", token = "{TOKEN}", script = "probe.js", '
                    f'schedule {{ interval = 1s, delay = 1s }} }}', {"probe.js": probe})
    deadline = time.monotonic() + 60
    while served.count("bench.probe") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    ingesting = served.count("bench.ws")
    served.stop()
    feed.close()
    with SqliteStore(served.db) as store, store.session() as session:
        probes = session.query(store.authenticate(TOKEN), Query("bench.probe")).records
    return {"p50_us": statistics.median(p.data["p50_us"] for p in probes),
            "messages_ingested_meanwhile": ingesting}


def main() -> None:
    """Run the daemon benchmarks and print their figures against their targets."""
    run_and_print([
        ("websocket ingest, one feed", bench_ingest, ">= 20,000 msg/s, zero loss"),
        ("schedule lateness, 100 robots at 1 s", bench_lateness, "p99 <= 100 ms"),
        ("trigger latency, commit -> run start", bench_trigger_latency, "p50 <= 20 ms"),
        ("host call during full-speed ingest", bench_host_calls_under_ingest, "p50 <= 100 us"),
    ])


if __name__ == "__main__":
    main()
