"""The pure host-call protocol, driven through a bytearray as the shared buffer."""

from __future__ import annotations

import json
import struct

import pytest

from runtime import bridge
from runtime.exceptions import BridgeProtocolError, HttpStatusError


class FakeScript:
    """Plays the JavaScript half of the protocol (what jslibs/bridge.js does)."""

    def __init__(self, size: int, handler: bridge.Handler) -> None:
        self.buffer = bytearray(size)
        self.endpoint = bridge.BridgeEndpoint(self.buffer, handler)
        self.frames = 0

    def _slot(self, index: int, value: int | None = None) -> int:
        if value is not None:
            struct.pack_into("<i", self.buffer, 4 * index, value)
        return int(struct.unpack_from("<i", self.buffer, 4 * index)[0])

    def _send(self, kind: int, data: bytes) -> int:
        self.buffer[bridge.HEADER_BYTES:bridge.HEADER_BYTES + len(data)] = data
        self._slot(bridge.SLOT_KIND, kind)
        self._slot(bridge.SLOT_LENGTH, len(data) // 2)
        self._slot(bridge.SLOT_STATUS, bridge.STATUS_PENDING)
        self.endpoint.serve_frame()
        self.frames += 1
        return self._slot(bridge.SLOT_STATUS)

    def _read(self) -> bytes:
        n = self._slot(bridge.SLOT_LENGTH)
        return bytes(self.buffer[bridge.HEADER_BYTES:bridge.HEADER_BYTES + 2 * n])

    def call(self, text: str) -> tuple[int, str]:
        data = text.encode("utf-16-le", "surrogatepass")
        cap = 2 * self.endpoint.capacity
        while len(data) > cap:
            assert self._send(bridge.KIND_PART, data[:cap]) == bridge.STATUS_ACK
            data = data[cap:]
        status = self._send(bridge.KIND_CALL, data)
        parts = [self._read()]
        while status == bridge.STATUS_MORE:
            status = self._send(bridge.KIND_CONT, b"")
            parts.append(self._read())
        return status, b"".join(parts).decode("utf-16-le", "surrogatepass")


def test_small_request_gets_its_answer_in_one_frame() -> None:
    script = FakeScript(4096, lambda req: req.upper())
    assert script.call("hello") == (bridge.STATUS_OK, "HELLO")
    assert script.frames == 1


def test_large_messages_travel_in_frames_both_ways() -> None:
    script = FakeScript(1024, lambda req: req[::-1] * 3)
    text = "abcdefghij" * 1000
    status, answer = script.call(text)
    assert status == bridge.STATUS_OK
    assert answer == text[::-1] * 3
    assert script.frames > 20


def test_surrogate_pairs_are_never_split_across_frames() -> None:
    script = FakeScript(bridge.HEADER_BYTES + 2 * 7, lambda req: req)
    text = "a😀" * 50 + "\ud800"  # astral characters and one lone surrogate
    assert script.call(text) == (bridge.STATUS_OK, text)


def test_host_call_error_travels_with_name_message_and_fields() -> None:
    def fail(_: str) -> str:
        raise HttpStatusError(404, "http://x/y", "nope")

    status, answer = FakeScript(4096, fail).call("x")
    assert status == bridge.STATUS_ERROR
    assert json.loads(answer) == {"name": "HttpError", "message": "HTTP 404 from http://x/y",
                                  "status": 404, "url": "http://x/y", "body": "nope"}


def test_unexpected_exception_becomes_internal_error_not_silence() -> None:
    def crash(_: str) -> str:
        raise KeyError("boom")

    status, answer = FakeScript(4096, crash).call("x")
    assert status == bridge.STATUS_ERROR
    body = json.loads(answer)
    assert body["name"] == "InternalError" and "KeyError" in body["message"]


def test_unknown_frame_kind_is_answered_as_error() -> None:
    script = FakeScript(4096, lambda req: req)
    assert script._send(99, b"") == bridge.STATUS_ERROR
    assert "unknown frame kind" in json.loads(script._read().decode("utf-16-le"))["message"]


def test_buffer_smaller_than_a_header_is_refused() -> None:
    with pytest.raises(BridgeProtocolError):
        bridge.BridgeEndpoint(bytearray(8), lambda req: req)


def test_deferred_queue_hands_over_its_calls_in_order_and_empties() -> None:
    buffer = bytearray(bridge.HEADER_BYTES + 200)
    texts = ['["store.write","t"]\x01{"n":1}', '["store.write","t"]\x01{"n":2}']
    data = "\x00".join(texts).encode("utf-16-le") + "\x00".encode("utf-16-le")
    buffer[bridge.HEADER_BYTES:bridge.HEADER_BYTES + len(data)] = data
    struct.pack_into("<ii", buffer, 0, len(data) // 2, len(texts))
    queue = bridge.DeferredQueue(memoryview(buffer))
    assert queue.pending()
    assert queue.take() == texts
    assert not queue.pending() and queue.take() == []
