"""The websocket feed client: message shapes, backoff with full jitter, reconnects."""

from __future__ import annotations

import asyncio
import random

from runtime.manifest import WebsocketFeed
from runtime.triggers.websocket import BACKOFF_MAX_S, FeedClient, backoff_delay, message_data
from tests.daemon.conftest import FeedServer, send_then_close


def test_messages_become_record_data() -> None:
    assert message_data('{"temp": 21.5}') == {"temp": 21.5}
    assert message_data("not json") == {"payload": "not json"}
    assert message_data(b"\x01\x02") == {"payload_b64": "AQI="}


def test_backoff_grows_exponentially_with_full_jitter_up_to_a_minute() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(BACKOFF_MAX_S, 2.0 ** attempt)
        delays = [backoff_delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter: the whole range is used


def test_client_reconnects_after_each_drop_with_growing_waits() -> None:
    feed = FeedServer([send_then_close(2), send_then_close(2, 2), send_then_close(2, 4)])
    got: list[object] = []
    waits: list[float] = []

    async def fake_sleep(delay: float) -> None:
        waits.append(delay)
        if len(waits) >= 3:
            raise asyncio.CancelledError

    client = FeedClient(WebsocketFeed(feed.uri, "io.x"), got.append, rng=random.Random(1),
                        sleep=fake_sleep)

    async def run() -> None:
        try:
            await client.run()
        except asyncio.CancelledError:
            pass

    asyncio.run(run())
    feed.close()
    assert got == [{"n": n} for n in range(6)]
    assert client.state.reconnects == 3 and client.state.messages == 6
    assert [w <= c for w, c in zip(waits, (1, 2, 4), strict=True)] == [True] * 3
