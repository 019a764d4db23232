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
