"""Benchmarks of the data lake: acknowledged writes under wrk, page latency on a
million records, and bulk upload. A real `robot server` process on 127.0.0.1;
every load is bounded in time or count."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.report import free_port, run_and_print, wait_until_serving
from runtime.store.base import WriteRequest
from runtime.store.sqlite import SqliteStore

BIN = Path(sys.executable).parent
POST_LUA = """
wrk.method = "POST"
wrk.body = '{"device": "dev-0042", "temp": 21.5, "humidity": 48, "battery": 3.61}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


@contextmanager
def served(db: Path) -> Iterator[str]:
    """A `robot server` process on a free loopback port, stopped afterwards."""
    port = free_port()
    process = subprocess.Popen([str(BIN / "robot"), "server", "--db", str(db),
                                "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _token(db: Path, user: str) -> str:
    with SqliteStore(db) as store:
        store.add_identity(user)
        return store.create_token(user)


def bench_writes(folder: Path) -> dict[str, float]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is missing: `make bench` installs it from Debian's packages")
    db = folder / "writes.sqlite3"
    token = _token(db, "bench@example.com")
    script = folder / "post.lua"
    script.write_text(POST_LUA % token)
    with served(db) as url:
        done = subprocess.run([wrk, "-t2", "-c16", "-d10s", "--latency", "-s", str(script),
                               f"{url}/share/bench.post"],
                              capture_output=True, text=True, timeout=60, check=True)
    out = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    sent = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    with SqliteStore(db) as store:
        stored = _count(store, "bench.post", token)
    return {"acknowledged_writes_per_s": rate, "requests": sent, "stored": stored,
            "non_2xx": int(errors.group(1)) if errors else 0,
            "p99_ms": _ms(p99.group(1), p99.group(2)) if p99 else float("nan")}


def _count(store: SqliteStore, rec_type: str, token: str) -> int:
    from runtime.store.base import Query

    with store.session() as session:
        return session.query(store.authenticate(token), Query(rec_type, per_page=1)).total_count


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bench_pages(folder: Path, records: int = 1_000_000) -> dict[str, float]:
    db = folder / "pages.sqlite3"
    token = _token(db, "pages@example.com")
    with SqliteStore(db) as store:
        principal = store.authenticate(token)
        with store.session() as session:
            for start in range(0, records, 5000):
                session.write_many(principal, [
                    WriteRequest("bench.page", {"n": n, "temp": 20 + n % 10}, (f"d{n % 50}",))
                    for n in range(start, min(records, start + 5000))])
    last = -(-records // 100)
    figures: dict[str, float] = {}
    with served(db) as url, httpx.Client(base_url=url, headers={
            "Authorization": f"Bearer {token}"}) as client:
        for name, page in (("first", 1), ("middle", last // 2), ("last", last)):
            samples = []
            for _ in range(200):
                started = time.perf_counter()
                answer = client.get("/share/bench.page", params={"perPage": 100, "page": page})
                samples.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200 and answer.json()["meta"]["currentCount"] == 100
            samples.sort()
            figures[f"{name}_p50_ms"] = statistics.median(samples)
            figures[f"{name}_p99_ms"] = samples[int(len(samples) * 0.99) - 1]
    return figures


def bench_upload(folder: Path, rows: int = 1_000_000) -> dict[str, float]:
    source = folder / "rows.ndjson"
    with source.open("w") as out:
        for n in range(rows):
            out.write(json.dumps({"device": f"dev-{n % 500:04d}", "seq": n, "temp": 21.5,
                                  "ts": 1764000000000 + n}) + "\n")
    db = folder / "upload.sqlite3"
    started = time.perf_counter()
    subprocess.run([str(BIN / "robot"), "share", "post", "bench.upload", str(source), "--each",
                    "--db", str(db)], check=True, capture_output=True, timeout=600)
    elapsed = time.perf_counter() - started
    with SqliteStore(db) as store:
        stored = _count(store, "bench.upload", store.local_token("local"))
    assert stored == rows, stored
    return {"rows_per_s": rows / elapsed, "rows": rows}


def bench_views(folder: Path) -> dict[str, float]:
    """The two views of issue 5, run by the store over 1,000,000 and 100,000 records."""
    from runtime.store.base import View

    db = folder / "views.sqlite3"
    token = _token(db, "views@example.com")
    with SqliteStore(db) as store:
        principal = store.authenticate(token)
        with store.session() as session:
            for start in range(0, 1_000_000, 5000):
                session.write_many(principal, [
                    WriteRequest("bench.big", {"level": n % 11, "device": f"d{n % 100}"})
                    for n in range(start, start + 5000)])
            for start in range(0, 100_000, 5000):
                session.write_many(principal, [
                    WriteRequest("bench.group", {"device": f"d{n % 100}", "temp": n % 40})
                    for n in range(start, start + 5000)])
        top = View("top", "bench.big", (
            {"$match": {"recType": "bench.big", "data.level": {"$gt": 5}}},
            {"$sort": {"createDate": -1}}, {"$limit": 10}))
        group = View("group", "bench.group", (
            {"$group": {"_id": "$data.device", "n": {"$sum": 1},
                        "avg": {"$avg": "$data.temp"}}},))
        figures = {}
        for name, view, rec_type, runs in (("match_sort_limit", top, "bench.big", 50),
                                           ("group_by_device", group, "bench.group", 10)):
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                with store.session() as session:
                    docs = session.run_view(principal, rec_type, view, {})
                samples.append((time.perf_counter() - started) * 1000)
            assert docs, name
            figures[f"{name}_median_ms"] = statistics.median(samples)
    return figures



def main() -> None:
    """Run the data-lake benchmarks and print their figures against their targets."""
    run_and_print([
        ("POST /share, 16 connections (wrk)", bench_writes, ">= 2,000/s"),
        ("GET perPage=100 on 1,000,000", bench_pages, "p99 <= 25 ms"),
        ("share post --each 1,000,000 NDJSON", bench_upload, ">= 50,000 rows/s"),
        ("views: 1M match/sort/limit; 100k group", bench_views, "<= 50 ms; <= 500 ms median"),
    ])


if __name__ == "__main__":
    main()
