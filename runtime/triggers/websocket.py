"""A websocket feed: connect, receive, reconnect. The only module importing websockets.

The feed hands every message to ``on_message`` (which must not block) and keeps
itself connected: exponential backoff with full jitter from 1 s up to 60 s after a
failure, reset once a connection has stayed up a minute; keepalive pings. Query
authorisation stays in the URI; ``authHeader`` goes as the Authorization header.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.manifest import WebsocketFeed

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
STABLE_AFTER_S = 60.0
PING_INTERVAL_S = 20.0


def message_data(message: str | bytes) -> Any:
    """A message as a record's data: JSON text as is, other text ``{"payload"}``,
    binary ``{"payload_b64"}``."""
    if isinstance(message, bytes):
        return {"payload_b64": base64.b64encode(message).decode("ascii")}
    try:
        return json.loads(message)
    except ValueError:
        return {"payload": message}


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Full jitter: anywhere from 0 to min(60 s, 1 s * 2^attempt)."""
    return rng.uniform(0, min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** attempt))


@dataclass
class FeedState:
    """What ``robot status`` shows of a feed."""

    connected: bool = False
    messages: int = 0
    reconnects: int = 0
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The state as JSON."""
        return {"connected": self.connected, "messages": self.messages,
                "reconnects": self.reconnects, "lastError": self.last_error}


class FeedClient:
    """Keeps one feed connected and passes its messages on.

    Args:
        feed: where to connect and how to authenticate.
        on_message: called with each message's record data, in order.
        rng: the jitter's randomness (seeded in tests).
        sleep: how to wait between attempts (replaced in tests).
    """

    def __init__(self, feed: WebsocketFeed, on_message: Callable[[Any], None], *,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self.feed = feed
        self.state = FeedState()
        self._on_message = on_message
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.delays: list[float] = []  # every backoff slept, for status and tests

    async def run(self) -> None:
        """Stay connected until cancelled."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        attempt = 0
        headers = {"Authorization": self.feed.auth_header} if self.feed.auth_header else None
        while True:
            connected_at = None
            try:
                async with connect(self.feed.uri, additional_headers=headers, proxy=None,
                                   ping_interval=PING_INTERVAL_S, open_timeout=10,
                                   max_size=16 * 1024 * 1024) as socket:
                    self.state.connected, connected_at = True, time.monotonic()
                    try:
                        async for message in socket:
                            self.state.messages += 1
                            self._on_message(message_data(message))
                    except asyncio.CancelledError:
                        await asyncio.shield(socket.close(1001, "robot stopping"))
                        raise
                    self.state.last_error = "closed by the server"
            except (TimeoutError, OSError, WebSocketException) as exc:
                self.state.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self.state.connected = False
            if connected_at is not None and time.monotonic() - connected_at >= STABLE_AFTER_S:
                attempt = 0
            delay = backoff_delay(attempt, self._rng)
            self.delays.append(delay)
            attempt += 1
            self.state.reconnects += 1
            await self._sleep(delay)
