"""A small stand-in for Orange LiveObjects' data API, on 127.0.0.1 only.

``GET /api/v0/data/streams/urn:lora:<DevEUI>!uplink`` answers a JSON array of
realistic LoRaWAN uplinks (Cayenne LPP payloads) when ``X-API-Key`` is given.
It stops by itself after ``--lifetime`` seconds so a forgotten one ends.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

STREAM_PREFIX = "/api/v0/data/streams/urn:lora:"
STREAM_SUFFIX = "!uplink"


def uplinks(dev_eui: str, count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Return ``count`` LiveObjects-shaped uplinks of one device, newest first."""
    rng = random.Random(f"{dev_eui}:{seed}")
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    packets = []
    for n in range(count):
        temp = round(rng.uniform(-5, 30), 1)
        humidity = rng.randrange(40, 180) / 2
        payload = f"0167{int(temp * 10) & 0xFFFF:04X}0268{int(humidity * 2):02X}"
        at = (now - timedelta(minutes=10 * n)).isoformat().replace("+00:00", "Z")
        packets.append({
            "id": f"{dev_eui}-{count - n:05d}",
            "streamId": f"urn:lora:{dev_eui}!uplink",
            "timestamp": at,
            "model": "lora_v0",
            "value": {"port": 1, "fcnt": count - n, "payload": payload,
                      "signalLevel": rng.randint(1, 5)},
            "metadata": {"connector": "lora", "source": f"urn:lo:nsid:lora:{dev_eui}",
                         "network": {"lora": {"devEUI": dev_eui, "port": 1,
                                              "rssi": -rng.randint(60, 120),
                                              "snr": round(rng.uniform(-10, 10), 1),
                                              "sf": rng.choice([7, 9, 12])}}},
            "created": at,
        })
    return packets


class _Handler(BaseHTTPRequestHandler):
    server_version = "LiveObjectsStandIn/1"

    def do_GET(self) -> None:  # noqa: N802 - the http.server convention
        path = self.path.split("?")[0]
        if not (path.startswith(STREAM_PREFIX) and path.endswith(STREAM_SUFFIX)):
            self._reply(404, {"code": 404, "message": "no such stream"})
        elif not self.headers.get("X-API-Key"):
            self._reply(403, {"code": 403, "message": "X-API-Key header required"})
        else:
            dev_eui = path[len(STREAM_PREFIX):-len(STREAM_SUFFIX)]
            self._reply(200, uplinks(dev_eui, self.server.packets))  # type: ignore[attr-defined]

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def serve(port: int = 0, packets: int = 5) -> ThreadingHTTPServer:
    """Start the stand-in on 127.0.0.1 in a thread; ``server.shutdown()`` stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.packets = packets  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    """Run the stand-in until ``--lifetime`` seconds pass."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8911)
    parser.add_argument("--packets", type=int, default=5)
    parser.add_argument("--lifetime", type=float, default=120.0)
    parser.add_argument("--ready-file", type=Path, default=None)
    args = parser.parse_args()
    server = serve(args.port, args.packets)
    if args.ready_file is not None:
        args.ready_file.write_text(str(server.server_address[1]))
    threading.Event().wait(args.lifetime)
    server.shutdown()


if __name__ == "__main__":
    main()
