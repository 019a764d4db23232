"""A simulated websocket feed of LoRaWAN uplinks (The Things Stack v3 shape, Cayenne LPP
payloads), on 127.0.0.1. Each connection gets a bounded stream of uplinks."""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

DEVICES = ("sensor-0001", "sensor-0002", "sensor-0003")


def lpp_payload(rng: random.Random) -> bytes:
    """Temperature (ch 1), humidity (ch 2), analog battery volts (ch 3), sometimes GPS (ch 4)."""
    temp = int(round(rng.uniform(12, 28), 1) * 10)
    humidity = int(rng.uniform(35, 70) * 2)
    battery = int(rng.uniform(3.3, 3.7) * 100)
    data = bytes([1, 0x67]) + temp.to_bytes(2, "big", signed=True) + bytes([2, 0x68, humidity])
    data += bytes([3, 0x02]) + battery.to_bytes(2, "big", signed=True)
    if rng.random() < 0.3:
        lat, lon, alt = int(48.8566 * 1e4), int(2.3522 * 1e4), int(35 * 100)
        data += bytes([4, 0x88]) + b"".join(v.to_bytes(3, "big", signed=True)
                                            for v in (lat, lon, alt))
    return data


def uplink(device: str, counter: int, rng: random.Random) -> dict[str, Any]:
    """One uplink as a network server's websocket integration sends it."""
    payload = lpp_payload(rng)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "end_device_ids": {"device_id": device, "dev_eui": f"70B3D57ED00{counter % 10:05X}",
                           "application_ids": {"application_id": "demo-app"}},
        "received_at": now,
        "uplink_message": {
            "f_port": 1, "f_cnt": counter, "frm_payload": base64.b64encode(payload).decode(),
            "payload_hex": payload.hex().upper(),
            "rx_metadata": [{"gateway_ids": {"gateway_id": "demo-gw"},
                             "rssi": -rng.randint(60, 115), "snr": round(rng.uniform(-8, 9), 1)}],
            "settings": {"data_rate": {"lora": {"bandwidth": 125000,
                                                "spreading_factor": rng.choice([7, 9, 12])}},
                         "frequency": "868100000"}},
    }


class UplinkFeed:
    """Serves uplinks every ``period_s`` to each connection, at most ``limit`` each."""

    def __init__(self, period_s: float = 0.25, limit: int = 10_000, seed: int = 1) -> None:
        from websockets.sync.server import serve

        self.sent = 0
        self._period = period_s
        self._limit = limit
        self._seed = seed
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, connection: Any) -> None:
        rng = random.Random(self._seed)
        try:
            for counter in range(self._limit):
                device = DEVICES[counter % len(DEVICES)]
                connection.send(json.dumps(uplink(device, counter, rng)))
                self.sent += 1
                time.sleep(self._period)
        except Exception:  # noqa: BLE001 - the client left; this connection is over
            return

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
