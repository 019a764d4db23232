"""Robot Runtime: runs Microshare-style JavaScript robots in V8 and keeps a local data lake.

The public API is exactly ``__all__`` (pinned by ``tests/test_public_api.py``).
"""

from runtime.exceptions import (
    BridgeProtocolError,
    Forbidden,
    HostCallError,
    HttpStatusError,
    InvalidRecord,
    ModuleNotFound,
    NetworkError,
    NotAuthenticated,
    RecordNotFound,
    RobotLoadError,
    RobotRuntimeError,
    SandboxError,
    ScriptError,
    StoreError,
    UsageError,
)
from runtime.httpcalls import Route
from runtime.report import RunReport, RunResult
from runtime.runner import Runner
from runtime.sandbox.base import JsError, Limits, RunStatus
from runtime.store.base import Principal, Query, Record, Store
from runtime.store.sqlite import SqliteStore

__version__ = "0.1.0"

__all__ = [
    "BridgeProtocolError",
    "Forbidden",
    "HostCallError",
    "HttpStatusError",
    "InvalidRecord",
    "JsError",
    "Limits",
    "ModuleNotFound",
    "NetworkError",
    "NotAuthenticated",
    "Principal",
    "Query",
    "Record",
    "RecordNotFound",
    "RobotLoadError",
    "RobotRuntimeError",
    "Route",
    "RunReport",
    "RunResult",
    "RunStatus",
    "Runner",
    "SandboxError",
    "ScriptError",
    "SqliteStore",
    "Store",
    "StoreError",
    "UsageError",
    "__version__",
]
