"""The public API is exactly runtime.__all__."""

from __future__ import annotations

import runtime


def test_public_api_is_pinned() -> None:
    assert sorted(runtime.__all__) == sorted(
        ["BridgeProtocolError", "Forbidden", "HostCallError", "HttpStatusError",
         "InvalidRecord", "JsError", "Limits", "ModuleNotFound", "NetworkError",
         "NotAuthenticated", "Principal", "Query", "Record", "RecordNotFound",
         "RobotLoadError", "RobotRuntimeError", "Route", "RunReport", "RunResult",
         "RunStatus", "Runner", "SandboxError", "ScriptError", "SqliteStore", "Store",
         "StoreError", "UsageError", "__version__"])
    for name in runtime.__all__:
        assert hasattr(runtime, name)


def test_every_runtime_error_derives_from_the_one_root() -> None:
    for name in runtime.__all__:
        value = getattr(runtime, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, runtime.RobotRuntimeError), name


def test_bundled_javascript_ships_inside_the_package() -> None:
    from runtime import jslibs

    assert {"helpers", "codecs", "lpp"} <= jslibs.library_names()
    assert "bridge" not in jslibs.library_names()
    assert "function main" not in jslibs.source("helpers")
