"""Request preparation and routing: pure functions."""

from __future__ import annotations

import pytest

from runtime.exceptions import UsageError
from runtime.httpcalls import Route, apply_routes, prepare


def test_routes_replace_only_a_whole_prefix() -> None:
    routes = [Route.parse("https://lo.example.com=http://127.0.0.1:8911")]
    local = "http://127.0.0.1:8911/api?x=1"
    assert apply_routes("https://lo.example.com/api?x=1", routes) == local
    evil = "https://lo.example.com.evil/api"
    assert apply_routes(evil, routes) == evil


@pytest.mark.parametrize("text", ["nothing", "=http://a", "ftp://a=http://b", "http://a="])
def test_bad_routes_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        Route.parse(text)


def test_headers_without_auth_type_are_sent_as_they_are() -> None:
    prepared = prepare("get", "http://x", {"token": "t", "X-N": 5}, None)
    assert prepared.method == "GET"
    assert prepared.headers == {"token": "t", "X-N": "5"} and prepared.content is None


@pytest.mark.parametrize("url, refused", [
    ("http://169.254.169.254/latest/meta-data/", True),
    ("http://[fe80::1]/", True),
    ("http://metadata.google.internal/computeMetadata/v1/", True),
    ("http://127.0.0.1:8911/api", False),
    ("http://10.1.2.3/", True),
    ("http://10.9.9.9/", False),
])
def test_destinations_refuse_denied_hosts_and_addresses(url: str, refused: bool) -> None:
    from runtime.exceptions import NetworkError
    from runtime.httpcalls import Destinations

    policy = Destinations(deny=Destinations().deny + ("10.0.0.0/8",), allow=("10.9.0.0/16",))
    if refused:
        with pytest.raises(NetworkError) as caught:
            policy.check(url)
        assert caught.value.fields["code"] == "EPOLICY"
    else:
        policy.check(url)


def test_a_robot_gets_a_clear_network_error_for_metadata_addresses(tmp_path: object) -> None:
    import respx

    from runtime.exceptions import NetworkError
    from runtime.httpcalls import HttpCaller, Prepared

    with respx.mock:
        caller = HttpCaller()
        with pytest.raises(NetworkError, match="refused by the network policy"):
            caller.send(Prepared("GET", "http://169.254.169.254/"), deadline=1e12,
                        timeout_s=1)
        caller.close()
