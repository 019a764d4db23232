"""Base64, number conversions and Cayenne LPP against ROBOT_API.md's facts, in V8."""

from __future__ import annotations

import json

import pytest

from tests.conftest import RunJs, logs


def js_values(run_js: RunJs, *expressions: str) -> list[object]:
    body = " ".join(f"print(JSON.stringify({e}));" for e in expressions)
    result = run_js("var lib = require('./libs/helpers');\nfunction main() { %s }" % body)
    assert result.ok, result.error
    return [json.loads(line) for line in logs(result)]


def test_unsigned_conversions_match_the_documented_facts(run_js: RunJs) -> None:
    assert js_values(run_js, "lib.Dec2Bin(423519)", "lib.Dec2Hex(423519)",
                     "lib.Bin2Dec('000001100111011001011111')", "lib.Hex2Dec('06765F')",
                     "lib.Hex2Bin('06765F')", "lib.Bin2Hex('000001100111011001011111')") == [
        "000001100111011001011111", "06765F", 423519, 423519,
        "000001100111011001011111", "06765F"]


def test_twos_complement_conversions_match_the_documented_facts(run_js: RunJs) -> None:
    assert js_values(run_js, "lib.Dec2BinTwoCompl(-879094)", "lib.Dec2HexTwoCompl(-879094)",
                     "lib.Hex2SignedDec('F2960A')",
                     "lib.Bin2SignedDec('111100101001011000001010')",
                     "lib.Dec2HexTwoCompl(5)", "lib.Hex2SignedDec('7F')") == [
        "111100101001011000001010", "F2960A", -879094, -879094, "05", 127]


def test_bad_digits_throw_a_type_error(run_js: RunJs) -> None:
    result = run_js("var lib = require('./libs/helpers');\n"
                    "function main() { try { lib.Hex2Dec('XYZ'); } catch (e) { print(e.name); } }")
    assert logs(result) == ["TypeError"]


def test_base64_round_trips_text_and_binary(run_js: RunJs) -> None:
    assert js_values(run_js, "lib.btoa('Hello World')", "lib.atob('SGVsbG8gV29ybGQ=')",
                     "lib.atob(lib.btoa('\\u00ff\\u0000\\u0080')) === '\\u00ff\\u0000\\u0080'",
                     "lib.btoa('é')", "lib.btoa('€')") == [
        "SGVsbG8gV29ybGQ=", "Hello World", True, "6Q==", "4oKs"]


def test_lpp_decodes_the_documented_payload(run_js: RunJs) -> None:
    [decoded] = js_values(run_js, "lib.decodeCayenneLPP('0167FFD7067104D2FB2E0000')")
    assert isinstance(decoded, str)
    assert json.loads(decoded) == [
        {"channel": 1, "type": "Temperature Sensor", "measure": -4.1, "value": "-4.1°C"},
        {"channel": 6, "type": "Accelerometer", "measure": {"X": 1.234, "Y": -1.234, "Z": 0},
         "value": {"X": "1.234G", "Y": "-1.234G", "Z": "0.0G"}}]


@pytest.mark.parametrize("payload, kind, measure", [
    ("0300FF", "Digital Input", 255),
    ("0401 01", "Digital Output", 1),
    ("0502FF9C", "Analog Input", -1.0),
    ("060304D2", "Analog Output", 12.34),
    ("07650123", "Illuminance Sensor", 291),
    ("086601", "Presence Sensor", 1),
    ("09680A", "Humidity Sensor", 5.0),
    ("0A7327DA", "Barometer", 1020.2),
    ("0B86FF9C00640000", "Gyrometer", {"X": -1.0, "Y": 1.0, "Z": 0}),
    ("0C8806765FF2960A0003E8", "GPS Location",
     {"latitude": 42.3519, "longitude": -87.9094, "altitude": 10.0}),
])
def test_lpp_decodes_and_reencodes_every_data_type(run_js: RunJs, payload: str, kind: str,
                                                   measure: object) -> None:
    clean = payload.replace(" ", "")
    decoded, encoded = js_values(
        run_js, f"lib.decodeCayenneLPP('{payload}')",
        f"lib.encodeToCayenneLPP(lib.decodeCayenneLPP('{payload}'))")
    [entry] = json.loads(str(decoded))
    assert (entry["type"], entry["measure"]) == (kind, measure)
    assert encoded == clean.upper()


def test_lpp_names_an_unknown_type_and_a_truncated_payload(run_js: RunJs) -> None:
    result = run_js("var lib = require('./libs/helpers');\nfunction main() {\n"
                    "try { lib.decodeCayenneLPP('01FF00'); } catch (e) { print(e.message); }\n"
                    "try { lib.decodeCayenneLPP('0167FF'); } catch (e) { print(e.message); } }")
    assert logs(result) == ["decodeCayenneLPP: unknown data type 0xff at byte 1",
                            "decodeCayenneLPP: Temperature Sensor on channel 1 is truncated"]
