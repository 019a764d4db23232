"""Who may do what: scopes and pipe tokens (ROBOT_API.md §5). Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.exceptions import Forbidden

if TYPE_CHECKING:
    from runtime.store.base import Principal

#: How long a token issued for a password lives, unless told otherwise.
PASSWORD_TOKEN_TTL_MS = 48 * 3600 * 1000

_READ_SCOPES = frozenset({"ALL:ALL", "SHARE:ALL", "ALL:READ", "SHARE:READ"})
_WRITE_SCOPES = frozenset({"ALL:ALL", "SHARE:ALL", "ALL:WRITE", "SHARE:WRITE"})


def _scopes(principal: Principal) -> set[str]:
    return {part.strip().upper() for part in principal.scope.split(",") if part.strip()}


def require_read(principal: Principal) -> None:
    """Raise :class:`Forbidden` unless the principal may read shares."""
    if principal.pipe:
        raise Forbidden("a pipe token may write but never read")
    if not _scopes(principal) & _READ_SCOPES:
        raise Forbidden(f"scope {principal.scope!r} does not allow SHARE:READ")


def require_write(principal: Principal) -> None:
    """Raise :class:`Forbidden` unless the principal may write shares."""
    if not _scopes(principal) & _WRITE_SCOPES:
        raise Forbidden(f"scope {principal.scope!r} does not allow SHARE:WRITE")
