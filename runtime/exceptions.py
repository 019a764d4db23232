"""The one exception hierarchy of Robot Runtime.

Every error the runtime raises on purpose derives from :class:`RobotRuntimeError`.
Third-party errors (mini-racer, httpx, sqlite3) are translated where they enter:
``sandbox/miniracer.py``, ``host.py`` / ``httpcalls.py`` and ``store/``.

::

    RobotRuntimeError
    ├── UsageError (ValueError)              bad option, file or argument given by a person
    ├── ScriptError                          a robot script cannot be loaded or run
    │   └── RobotLoadError (FileNotFoundError)   the script file is missing or unreadable
    ├── SandboxError                         the V8 sandbox itself failed
    │   └── BridgeProtocolError              a host-call frame broke the protocol
    ├── HostCallError                        a lib.* call failed; becomes a JS Error
    │   ├── HttpStatusError                  JS name 'HttpError': a non-2xx answer
    │   ├── NetworkError (ConnectionError)   JS name 'NetworkError': no answer at all
    │   └── ModuleNotFound (ImportError)     JS 'Error: Cannot find module ...'
    └── StoreError                           the data lake refused or failed
        ├── InvalidRecord (ValueError)       bad recType, tag, id or data
        ├── NotAuthenticated (PermissionError) missing, unknown or expired token
        ├── Forbidden (PermissionError)      token outside its scope, pipe token reading
        └── RecordNotFound (LookupError)     no such record for this identity
"""

from __future__ import annotations

from typing import Any


class RobotRuntimeError(Exception):
    """Root of every error Robot Runtime raises on purpose."""


class UsageError(RobotRuntimeError, ValueError):
    """A person gave a bad option, file or argument."""


class ScriptError(RobotRuntimeError):
    """A robot script cannot be loaded or run."""


class RobotLoadError(ScriptError, FileNotFoundError):
    """The robot script file is missing or unreadable."""


class SandboxError(RobotRuntimeError):
    """The V8 sandbox failed in a way that is not the robot's fault."""


class BridgeProtocolError(SandboxError):
    """A host-call frame broke the bridge protocol."""


class HostCallError(RobotRuntimeError):
    """A ``lib.*`` call failed; the bridge turns it into a JavaScript ``Error``.

    Args:
        message: the JavaScript error's ``message``.
        js_name: the JavaScript error's ``name``.
        fields: extra properties set on the JavaScript error (``status``, ``code``...).
    """

    js_name = "Error"

    def __init__(self, message: str, *, js_name: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if js_name is not None:
            self.js_name = js_name
        self.fields = fields


class HttpStatusError(HostCallError):
    """An HTTP helper got a non-2xx answer (JavaScript ``HttpError``)."""

    js_name = "HttpError"

    def __init__(self, status: int, url: str, body: str) -> None:
        super().__init__(f"HTTP {status} from {url}", status=status, url=url, body=body)


class NetworkError(HostCallError, ConnectionError):
    """An HTTP helper got no answer: refused, unreachable, timed out, denied by policy."""

    js_name = "NetworkError"

    def __init__(self, message: str, *, code: str, url: str) -> None:
        super().__init__(message, code=code, url=url)


class ModuleNotFound(HostCallError, ImportError):
    """``require(name)`` names no module the robot may load."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Cannot find module '{name}'")


class StoreError(RobotRuntimeError):
    """The data lake refused or failed an operation."""


class InvalidRecord(StoreError, ValueError):
    """A recType, tag, id or record body is not acceptable."""


class NotAuthenticated(StoreError, PermissionError):
    """The token is missing, unknown or expired."""


class Forbidden(StoreError, PermissionError):
    """The token is valid but may not do this (scope, or a pipe token reading)."""


class RecordNotFound(StoreError, LookupError):
    """No such record exists for this identity."""
