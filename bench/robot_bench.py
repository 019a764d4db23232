"""Benchmarks of issue 2: bridge round trip, warm runs against Node's vm, cold start,
whole-process robot-run, and write throughput. Every loop is bounded; no network
beyond 127.0.0.1. Run with ``make bench``."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import run_and_print
from runtime.modules import RobotModules
from runtime.runner import Runner
from runtime.sandbox.base import Job, Limits, RunEvent
from runtime.sandbox.miniracer import MiniRacerSandbox
from runtime.store.sqlite import SqliteStore

AGGREGATE_ROBOT = """
function main(text, auth) {
  var packets = JSON.parse(text);
  var byDevice = {};
  packets.forEach(function (p) {
    var d = byDevice[p.device] ||
      (byDevice[p.device] = {n: 0, sum: 0, min: Infinity, max: -Infinity});
    d.n++; d.sum += p.temp; d.min = Math.min(d.min, p.temp); d.max = Math.max(d.max, p.temp);
  });
  var out = [];
  for (var k in byDevice) out.push({device: k, avg: byDevice[k].sum / byDevice[k].n,
                                    min: byDevice[k].min, max: byDevice[k].max});
  return out;
}
"""

NODE_VM = """
const vm = require('vm');
const fs = require('fs');
const readline = require('readline');
const [source, text] = [fs.readFileSync(process.argv[2], 'utf8'),
                        fs.readFileSync(process.argv[3], 'utf8')];
const ctx = vm.createContext({});
vm.runInContext(source, ctx);
const call = new vm.Script('main(__text, __auth)');
// One line in ("N"): run N times, answer the microseconds a run took.
readline.createInterface({input: process.stdin}).on('line', (line) => {
  const n = Number(line);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) { ctx.__text = text; ctx.__auth = 'a'; call.runInContext(ctx); }
  console.log(Number(process.hrtime.bigint() - t0) / 1000 / n);
});
"""


class BenchHost:
    """A host whose calls cost nothing, so the bridge alone is measured."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def start(self, deadline: float) -> None:
        pass

    def handle(self, op: str, args: list[Any]) -> Any:
        if op == "http":
            return args[3]  # echo the body: the same size goes back
        if op == "log":
            self.logs.append(str(args[1]))
        return None


def _sandbox(folder: Path, name: str, source: str, limits: Limits | None = None
             ) -> MiniRacerSandbox:
    script = folder / name
    script.write_text(source)
    return MiniRacerSandbox(RobotModules(script), limits or Limits(timeout_s=120))


def bench_round_trip(folder: Path) -> dict[str, float]:
    source = """var lib = require('./libs/helpers');
    function main(text) {
      var body = text === 'big' ? new Array(10241).join('x') : null;
      var perBatch = text === 'big' ? 200 : 2000, out = [];
      for (var b = 0; b < 30; b++) {
        var t0 = Date.now();
        for (var i = 0; i < perBatch; i++) {
          if (body === null) lib.say(''); else lib.post('http://127.0.0.1:9/echo', {}, body);
        }
        out.push((Date.now() - t0) * 1000 / perBatch);
      }
      print(JSON.stringify(out));
    }"""
    figures = {}
    with _sandbox(folder, "roundtrip.js", source) as sandbox:
        for kind in ("noop", "big"):
            host = BenchHost()
            sandbox.run(Job(RunEvent(kind, "a"), host))
            samples = json.loads(host.logs[-1])
            figures[kind] = statistics.median(samples)
    return {"noop_us": figures["noop"], "10kb_each_way_us": figures["big"]}


def _packets() -> str:
    return json.dumps([{"device": f"dev{n % 5}", "temp": 20 + (n % 7) * 0.5, "seq": n}
                       for n in range(100)])


def bench_warm_vs_node(folder: Path) -> dict[str, float]:
    """Our warm runs against Node's vm module, in alternating rounds.

    The two take turns, round after round, and the ratio is the median of each
    round's ratio: this machine's speed drifts, and turns put both under the same drift.
    """
    text, runs = _packets(), 2000
    node = shutil.which("node")
    (folder / "node_vm.js").write_text(NODE_VM)
    (folder / "packets.json").write_text(text)
    peer = None if node is None else subprocess.Popen(
        [node, str(folder / "node_vm.js"), str(folder / "aggregate.js"),
         str(folder / "packets.json")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ours, theirs = [], []
    with _sandbox(folder, "aggregate.js", AGGREGATE_ROBOT) as sandbox:
        host = BenchHost()
        sandbox.run_batch(Job(RunEvent(text, "a"), host) for _ in range(500))  # warm-up
        if peer is not None:
            _node_round(peer, 500)
        for _ in range(15):
            started = time.perf_counter()
            outcomes = sandbox.run_batch(Job(RunEvent(text, "a"), host) for _ in range(runs))
            ours.append((time.perf_counter() - started) / runs * 1e6)
            assert len(outcomes) == runs and all(o.error is None for o in outcomes)
            if peer is not None:
                theirs.append(_node_round(peer, runs))
        single = []
        for _ in range(300):
            started = time.perf_counter()
            sandbox.run(Job(RunEvent(text, "a"), host))
            single.append((time.perf_counter() - started) * 1e6)
    result = {"ours_us": statistics.median(ours),
              "ours_single_call_us": statistics.median(single)}
    if peer is not None:
        assert peer.stdin is not None
        peer.stdin.close()
        peer.wait(30)
        result["node_vm_us"] = statistics.median(theirs)
        result["ratio_ours_to_node"] = statistics.median(
            a / b for a, b in zip(ours, theirs, strict=True))
    return result


def _node_round(peer: subprocess.Popen[str], runs: int) -> float:
    assert peer.stdin is not None and peer.stdout is not None
    peer.stdin.write(f"{runs}\n")
    peer.stdin.flush()
    return float(peer.stdout.readline())


def bench_cold(folder: Path) -> dict[str, float]:
    source = "var lib = require('./libs/helpers');\nfunction main(t) { lib.say(lib.Dec2Hex(1)); }"
    script = folder / "cold.js"
    script.write_text(source)
    modules = RobotModules(script)
    _sandbox(folder, "cold.js", source).close()  # V8 platform start-up happens once per process
    samples = []
    for _ in range(30):
        started = time.perf_counter()
        sandbox = MiniRacerSandbox(modules, Limits())
        sandbox.run(Job(RunEvent("", "a"), BenchHost()))
        samples.append((time.perf_counter() - started) * 1000)
        sandbox.close()
    return {"cold_ms": statistics.median(samples)}


def bench_process(folder: Path) -> dict[str, float]:
    script = folder / "trivial.js"
    script.write_text("function main() {}")
    exe = Path(sys.executable).parent / "robot-run"
    samples = []
    for _ in range(10):
        started = time.perf_counter()
        subprocess.run([str(exe), str(script), "--db", str(folder / "p.db"), "--json"],
                       check=True, capture_output=True, timeout=60)
        samples.append(time.perf_counter() - started)
    return {"robot_run_process_s": statistics.median(samples)}


def bench_writes(folder: Path) -> dict[str, float]:
    """Median of five runs of 100,000 writes each, after one run that warms the process.

    This machine's CPU speed varies by half from one second to the next (a plain
    Python loop takes 0.30 to 0.48 s), so one run says little; the median does."""
    script = folder / "writer.js"
    script.write_text("var lib = require('./libs/helpers');\n"
                      "function main(t, auth) { for (var i = 0; i < 100000; i++) "
                      "lib.write('bench.small', {i: i, temp: 21.5}, auth, ['bench']); }")
    rates = []
    with SqliteStore(folder / "writes.sqlite3") as store:
        token = store.local_token("bench")
        with Runner(store, limits=Limits(timeout_s=300, memory_mb=512)) as runner:
            for attempt in range(6):
                started = time.perf_counter()
                result = runner.run(script, "", token)
                elapsed = time.perf_counter() - started
                assert result.ok and result.report.write_count == 100_000, result.error
                if attempt:
                    rates.append(100_000 / elapsed)
    return {"records_per_s": statistics.median(rates), "slowest_run_per_s": min(rates)}


def main() -> None:
    """Run every benchmark and print its figures against its target."""
    run_and_print([
        ("host-call round trip", bench_round_trip, "no-op median <= 25 us"),
        ("warm runs vs Node vm", bench_warm_vs_node, "ratio < 1"),
        ("cold start", bench_cold, "<= 15 ms"),
        ("robot-run process", bench_process, "<= 0.35 s median"),
        ("one run writing 100,000 records", bench_writes, ">= 50,000 records/s"),
    ])


if __name__ == "__main__":
    main()
