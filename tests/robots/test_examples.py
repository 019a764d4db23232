"""The example robots in robots/ do what their comments say, against local stand-ins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.demo import liveobjects_api
from runtime.envelopes import records_envelope
from runtime.httpcalls import Route
from runtime.runner import Runner
from runtime.store.base import Query, WriteRequest
from runtime.store.sqlite import SqliteStore
from tests.conftest import logs

ROBOTS = Path(__file__).parents[2] / "robots"
LO = "https://liveobjects.orange-business.com"


@pytest.fixture
def stand_in() -> Iterator[str]:
    server = liveobjects_api.serve(port=0, packets=4)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_cursor_robot_stores_only_new_packets(store: SqliteStore, token: str,
                                              stand_in: str) -> None:
    with Runner(store, routes=[Route(LO, stand_in)]) as runner:
        first = runner.run(ROBOTS / "cursor_pull.js", "{}", token)
        second = runner.run(ROBOTS / "cursor_pull.js", "{}", token)
    assert first.ok and second.ok, (first.error, second.error)
    assert first.report.write_count == 4 and second.report.write_count == 0
    assert logs(second) == ["stored 0 new packet(s); cursor at 2026-11-25T12:00:00Z"]


def test_decoder_robot_turns_an_lpp_packet_into_readings(store: SqliteStore, token: str,
                                                         runner: Runner) -> None:
    principal = store.authenticate(token)
    with store.session() as session:
        raw = session.write(principal, WriteRequest(
            "io.demo.raw", {"payload": "0167FFD7067104D2FB2E0000"}, ("dev1",)))
    text = json.dumps(records_envelope([raw]))
    result = runner.run(ROBOTS / "decode_lpp.js", text, token)
    assert result.ok, result.error
    with store.session() as session:
        [decoded] = session.query(principal, Query("io.demo.decoded")).records
    assert decoded.data == {"source": raw.id, "readings": {
        "Temperature Sensor 1": -4.1, "Accelerometer 6": {"X": 1.234, "Y": -1.234, "Z": 0}}}
    assert decoded.tags == ("dev1",)
