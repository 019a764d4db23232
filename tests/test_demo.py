"""The offline demo runs the documented robots end to end and stops by itself."""

from __future__ import annotations

from pathlib import Path

from runtime.demo import run as demo

ROBOTS = Path(__file__).parents[1] / "robots"


def test_demo_fills_every_rec_type_and_no_run_fails(tmp_path: Path) -> None:
    lines: list[str] = []
    final = demo.run(tmp_path / "demo", ROBOTS, seconds=6, say=lines.append)
    assert final["orange.liveobjects.siconia"] >= 5
    assert final["io.sage.device.packed"] >= 5
    assert final["io.demo.readings"] >= final["io.sage.device.packed"]
    assert lines[0].startswith("demo: LiveObjects simulator on 127.0.0.1:")
    assert final["io.demo.alerts"] >= 1 and final["io.demo.summary"] >= 1
    assert all("failed=0" in line for line in lines[1:])
    assert "mails=0" not in lines[-1]
