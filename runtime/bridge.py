"""Sans-I/O host-call protocol between a robot's JavaScript and Python.

The JavaScript half lives in ``jslibs/bridge.js``. Both halves share one
``SharedArrayBuffer``; nothing here knows how the buffer was made or how the
JavaScript side wakes Python (that is ``sandbox/miniracer.py``'s business).

Buffer layout (little-endian)::

    bytes 0..31   header: eight int32 slots, see the ``SLOT_*`` constants
    bytes 32..    data: UTF-16 code units of the current frame

A host call is one *message* each way: the request is a string (JSON
``[op, ...args]``), the answer a string (JSON). A message longer than the data
area travels in *frames*:

* request: frames of kind ``PART`` and a last one of kind ``CALL``; Python
  acknowledges each ``PART`` with status ``ACK``.
* answer: frames of status ``MORE`` and a last one of ``OK`` or ``ERROR``; the
  script fetches each next frame with a request of kind ``CONT``.

Before every frame the script sets the status slot to ``PENDING``; if Python
fails to answer (an exception swallowed by the foreign-function layer), the
script sees ``PENDING`` still and raises instead of reading a stale answer.
An ``ERROR`` answer is JSON ``{"name", "message", ...fields}`` and becomes a
JavaScript ``Error`` with those properties.

Deferred calls (record writes) use a second buffer, read by :class:`DeferredQueue`:
the same 32-byte header (slot 0: units used, slot 1: entries), then the calls as
UTF-16 texts separated by NUL (which JSON text never holds raw). A call's text is
``[op, ...args]``, optionally followed by ``\x01`` and one more JSON text.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

from runtime.exceptions import BridgeProtocolError, HostCallError, RobotRuntimeError

HEADER_BYTES = 32
SLOT_STATUS = 0
SLOT_KIND = 1
SLOT_LENGTH = 2

KIND_CALL = 1
KIND_PART = 2
KIND_CONT = 3

STATUS_PENDING = 0
STATUS_OK = 1
STATUS_ERROR = 2
STATUS_MORE = 3
STATUS_ACK = 4

DEFAULT_BUFFER_BYTES = 1 << 20

Handler = Callable[[str], str]


def capacity_units(buffer_bytes: int) -> int:
    """Return how many UTF-16 code units one frame carries in a buffer of this size."""
    return (buffer_bytes - HEADER_BYTES) // 2


def encode_error(exc: BaseException) -> str:
    """Turn a Python exception into the JSON body of an ``ERROR`` answer.

    Args:
        exc: a :class:`HostCallError` (its name, message and fields travel) or any
            other exception (a bug: it travels as ``InternalError`` with its trace).

    Returns:
        JSON text ``{"name": ..., "message": ..., ...fields}``.
    """
    if isinstance(exc, HostCallError):
        body: dict[str, Any] = dict(exc.fields)
        body["name"] = exc.js_name
        body["message"] = exc.message
    elif isinstance(exc, RobotRuntimeError):
        body = {"name": "Error", "message": str(exc)}
    else:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        body = {"name": "InternalError", "message": f"host call failed: {detail}"}
    return json.dumps(body, ensure_ascii=False, default=str)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


class BridgeEndpoint:
    """Python's half of the protocol over one shared buffer.

    Args:
        buffer: a writable byte view of the shared buffer (a ``memoryview`` onto
            V8 memory in production, a ``bytearray`` in tests).
        handler: answers one whole request string with one answer string; a
            :class:`HostCallError` it raises becomes a JavaScript ``Error``.
    """

    def __init__(self, buffer: memoryview | bytearray, handler: Handler) -> None:
        view = memoryview(buffer)
        if view.nbytes < HEADER_BYTES + 2:
            raise BridgeProtocolError(f"shared buffer of {view.nbytes} bytes is too small")
        self._bytes = view.cast("B")
        self._header = self._bytes[:HEADER_BYTES].cast("i")
        self._capacity = capacity_units(view.nbytes)
        self._handler = handler
        self._request_parts: list[str] = []
        self._pending_answer = b""
        self._pending_status = STATUS_OK

    @property
    def capacity(self) -> int:
        """Code units one frame carries."""
        return self._capacity

    def serve_frame(self) -> None:
        """Answer the frame the script has just written. Never raises."""
        try:
            kind = self._header[SLOT_KIND]
            if kind == KIND_CONT:
                self._send_next_chunk()
            elif kind == KIND_PART:
                self._request_parts.append(self._read_frame())
                self._write_frame(b"", STATUS_ACK)
            elif kind == KIND_CALL:
                self._answer(self._take_request())
            else:
                raise BridgeProtocolError(f"unknown frame kind {kind}")
        except BaseException as exc:  # noqa: BLE001 - nothing may escape into ctypes
            self._request_parts.clear()
            self._pending_answer = _utf16(encode_error(exc))
            self._pending_status = STATUS_ERROR
            self._send_next_chunk()

    def _take_request(self) -> str:
        last = self._read_frame()
        if not self._request_parts:
            return last
        self._request_parts.append(last)
        whole = "".join(self._request_parts)
        self._request_parts.clear()
        return whole

    def _answer(self, request: str) -> None:
        try:
            answer, status = self._handler(request), STATUS_OK
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the script
            answer, status = encode_error(exc), STATUS_ERROR
        self._pending_answer = _utf16(answer)
        self._pending_status = status
        self._send_next_chunk()

    def _send_next_chunk(self) -> None:
        answer = self._pending_answer
        limit = 2 * self._capacity
        if len(answer) <= limit:
            self._pending_answer = b""
            self._write_frame(answer, self._pending_status)
            return
        cut = limit
        last_unit = int.from_bytes(answer[cut - 2 : cut], "little")
        if 0xD800 <= last_unit <= 0xDBFF:  # never split a surrogate pair
            cut -= 2
        self._pending_answer = answer[cut:]
        self._write_frame(answer[:cut], STATUS_MORE)

    def _read_frame(self) -> str:
        units = self._header[SLOT_LENGTH]
        if not 0 <= units <= self._capacity:
            raise BridgeProtocolError(f"frame length {units} outside 0..{self._capacity}")
        end = HEADER_BYTES + 2 * units
        return self._bytes[HEADER_BYTES:end].tobytes().decode("utf-16-le", "surrogatepass")

    def _write_frame(self, data: bytes, status: int) -> None:
        units = len(data) // 2
        if units > self._capacity:
            raise BridgeProtocolError(f"frame of {units} units over capacity {self._capacity}")
        self._bytes[HEADER_BYTES : HEADER_BYTES + len(data)] = data
        self._header[SLOT_LENGTH] = units
        self._header[SLOT_STATUS] = status


class DeferredQueue:
    """Python's side of bridge.js's deferred-call queue: NUL-separated JSON texts."""

    _USED, _COUNT = 0, 1

    def __init__(self, buffer: memoryview) -> None:
        self._bytes = buffer.cast("B")
        self._header = self._bytes[:HEADER_BYTES].cast("i")

    def pending(self) -> bool:
        """True when calls wait in the queue."""
        return self._header[self._COUNT] > 0

    def take(self) -> list[str]:
        """Return the queued call texts and empty the queue."""
        used, count = self._header[self._USED], self._header[self._COUNT]
        data = self._bytes[HEADER_BYTES:HEADER_BYTES + 2 * used].tobytes()
        self._header[self._USED] = 0
        self._header[self._COUNT] = 0
        entries = data.decode("utf-16-le", "surrogatepass").split("\x00")
        return entries[:count]
