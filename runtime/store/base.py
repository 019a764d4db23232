"""The store interface and its value types.

A :class:`Store` owns identities, tokens and robot state; records are written
and read through a :class:`StoreSession`, a unit of work whose writes are
visible to its own reads at once and durable when it closes. Every record
operation takes the :class:`Principal` acting, and the store enforces who may
do what (``runtime/access.py``), so the REST API and robots meet the same rules.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime import access
from runtime.exceptions import InvalidRecord, StoreError
from runtime.records import (
    canonical_json,
    check_rec_type,
    check_tags,
    checksum,
    new_id,
)

if TYPE_CHECKING:
    from runtime.events import EventBus
    from runtime.store.runs import PendingTrigger, RunRecord

DEFAULT_PER_PAGE = 999


@dataclass(frozen=True)
class Principal:
    """Who acts, as a token says.

    Attributes:
        user: the identity's name (``alice@example.com``).
        org: its organisation.
        scope: ``RESOURCE:OPERATION`` (``ALL:ALL``, ``SHARE:READ``, ``SHARE:WRITE``).
        pipe: a write-only token.
    """

    user: str
    org: str
    scope: str = "ALL:ALL"
    pipe: bool = False


@dataclass(frozen=True, slots=True)
class Record:
    """One share of the data lake (ROBOT_API.md §4)."""

    id: str
    rec_type: str
    data: Any
    tags: tuple[str, ...]
    create_ms: int
    creator: str
    owner: str
    org: str
    checksum: str
    co_owners: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    """Which records to read and how to page them.

    Attributes:
        rec_type: the recType read.
        tags: records must carry all of these.
        page: 1-based page number.
        per_page: records per page.
        sort: field paths sorted ascending (``tstamp``, ``data.priority``); empty
            means newest first.
    """

    rec_type: str
    tags: tuple[str, ...] = ()
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """One page of a query's result."""

    records: Sequence[Record]
    total_count: int
    page: int
    per_page: int

    @property
    def total_pages(self) -> int:
        """Pages in the whole result (at least 1, as Microshare reports it)."""
        return max(1, -(-self.total_count // self.per_page))


@dataclass(slots=True)
class WriteRequest:
    """A record to write; the store fills in id, time, owner and checksum."""

    rec_type: str
    data: Any
    tags: tuple[str, ...] = ()
    co_owners: tuple[str, ...] = field(default_factory=tuple)


def new_record(principal: Principal, request: WriteRequest, now_ms: int, *,
               checked: bool = False, record_id: str | None = None) -> tuple[Record, str]:
    """Validate a write and make its record (id, checksum) without storing it.

    Args:
        checked: the caller already checked that ``principal`` may write.
        record_id: the id to give the record (a new one is made otherwise).

    Returns:
        The record and its data as canonical JSON text (sorted keys, no spaces).

    Raises:
        InvalidRecord: bad recType, tags or data. Forbidden: the principal may not write.
    """
    if not checked:
        access.require_write(principal)
    rec_type = check_rec_type(request.rec_type)
    tags = check_tags(request.tags)
    co_owners = tuple(dict.fromkeys(o for o in request.co_owners if o != principal.user)
                      ) if request.co_owners else ()
    try:
        # The stored text is the canonical one, so the checksum can be checked against it.
        text = canonical_json(request.data)
        digest = checksum(text)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"record data is not JSON: {exc}") from exc
    record = Record(record_id or new_id(now_ms), rec_type, request.data, tags, now_ms,
                    principal.user, principal.user, principal.org, digest, co_owners)
    return record, text


@dataclass(frozen=True)
class View:
    """A named pipeline over one recType, or static JSON.

    Attributes:
        owner: the identity that made it through the API; None for a manifest's view,
            which every identity may use (over its own records only).
    """

    id: str
    rec_type: str | None = None
    pipeline: tuple[Any, ...] | None = None
    static: Any = None
    owner: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The view as ``GET /view/:id`` shows it."""
        body: dict[str, Any] = {"id": self.id, "recType": self.rec_type}
        if self.pipeline is not None:
            body["pipeline"] = list(self.pipeline)
        else:
            body["static"] = self.static
        return body


class StoreSession(abc.ABC):
    """A unit of work: writes are visible to its own reads at once, durable on close.

    Attributes:
        trigger_depth: the chain depth of the triggered run writing through this
            session (0 for anything else); the records it writes trigger at depth + 1.
    """

    trigger_depth: int = 0

    @abc.abstractmethod
    def write(self, principal: Principal, request: WriteRequest) -> Record:
        """Store one record owned by ``principal``.

        Raises:
            InvalidRecord: bad recType, tags or data. Forbidden: may not write.
        """

    @abc.abstractmethod
    def write_many(self, principal: Principal, requests: Sequence[WriteRequest], *,
                   atomic: bool = False) -> list[Record | StoreError]:
        """Store several records in one go; a bad one fails alone, or with ``atomic``
        the whole batch fails (:class:`InvalidRecord` naming the record) and none is kept.

        Returns:
            For each request, in order, its record or the error that refused it
            (:class:`InvalidRecord`, or :class:`Forbidden` when the principal may not write).
        """

    @abc.abstractmethod
    def get(self, principal: Principal, rec_type: str, record_id: str, *,
            check_access: bool = True) -> Record:
        """Return one record the principal owns or co-owns.

        ``check_access=False`` skips the scope check (not ownership): a write-only
        token still gets the envelope of what it has just written.

        Raises:
            RecordNotFound: none such for this principal. Forbidden: may not read.
        """

    @abc.abstractmethod
    def query(self, principal: Principal, query: Query) -> Page:
        """Return one page of the principal's records.

        Raises:
            InvalidRecord: a bad sort field or paging value. Forbidden: may not read.
        """

    @abc.abstractmethod
    def delete(self, principal: Principal, rec_type: str, record_id: str) -> None:
        """Delete one record the principal owns.

        Raises:
            RecordNotFound: none such for this principal. Forbidden: may not write.
        """

    @abc.abstractmethod
    def run_view(self, principal: Principal, rec_type: str, view: View,
                 params: dict[str, Any]) -> list[Any]:
        """The documents ``view`` makes of the principal's records of ``rec_type``.

        Raises:
            InvalidRecord: a bad pipeline or a missing parameter (ViewError).
            Forbidden: may not read.
        """

    @abc.abstractmethod
    def state_get(self, robot: str, key: str) -> Any:
        """Return the robot's stored value for ``key``, or None."""

    @abc.abstractmethod
    def state_set(self, robot: str, key: str, value: Any) -> None:
        """Keep ``value`` (JSON) for the robot under ``key``."""

    @abc.abstractmethod
    def state_delete(self, robot: str, key: str) -> None:
        """Forget the robot's ``key``."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Make everything written so far durable."""

    @abc.abstractmethod
    def close(self) -> None:
        """Commit and release the session."""

    def __enter__(self) -> StoreSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class TokenInfo:
    """What the store knows of a token (never the token itself).

    Attributes:
        id: the first 12 hex digits of the token's hash, to tell tokens apart.
    """

    id: str
    user: str
    pipe: bool
    scope: str
    created_ms: int
    expires_ms: int | None
    revoked: bool


class Store(abc.ABC):
    """Identities, tokens, records and robot state.

    Attributes:
        events: where every committed record is published (``runtime/events.py``).
    """

    events: EventBus

    @abc.abstractmethod
    def add_identity(self, user: str, password: str | None = None) -> None:
        """Create ``user`` (or give it a new password).

        Raises:
            InvalidRecord: an empty or over-long name.
        """

    @abc.abstractmethod
    def check_password(self, user: str, password: str) -> bool:
        """True when ``user`` exists and ``password`` is its password."""

    @abc.abstractmethod
    def create_token(self, user: str, *, pipe: bool = False, scope: str = "ALL:ALL",
                     expires_ms: int | None = None) -> str:
        """Make a new random token (at least 128 bits) acting as ``user``; return it.

        Raises:
            NotAuthenticated: no such identity.
        """

    @abc.abstractmethod
    def list_tokens(self) -> list[TokenInfo]:
        """Every token the store knows, newest first."""

    @abc.abstractmethod
    def revoke_token(self, token: str) -> None:
        """Make ``token`` unusable.

        Raises:
            NotAuthenticated: the store does not know it.
        """

    @abc.abstractmethod
    def ensure_identity(self, user: str) -> None:
        """Create the identity ``user`` unless it exists."""

    @abc.abstractmethod
    def register_token(self, token: str, user: str, *, pipe: bool = False,
                       scope: str = "ALL:ALL", expires_ms: int | None = None) -> None:
        """Make ``token`` act as ``user`` (the identity is created if needed)."""

    @abc.abstractmethod
    def local_token(self, user: str) -> str:
        """Return ``user``'s local development token, registering it on first use.

        The token is derived from a secret kept in this store, so it cannot be
        guessed by anyone who cannot read the store itself.
        """

    @abc.abstractmethod
    def authenticate(self, token: str) -> Principal:
        """Return who ``token`` acts as.

        Raises:
            NotAuthenticated: unknown, revoked or expired.
        """

    @abc.abstractmethod
    def set_triggers(self, routes: dict[str, list[tuple[str, str]]], max_depth: int) -> None:
        """Say which robots run when a record of a recType is created.

        Args:
            routes: recType -> ``(robot id, the robot's identity)`` pairs.
            max_depth: a record written at this chain depth triggers nothing more.
        """

    @abc.abstractmethod
    def pending_triggers(self, limit: int = 1000) -> list[PendingTrigger]:
        """Triggers stored with their records and not yet run, oldest first."""

    @abc.abstractmethod
    def trigger_record(self, pending: PendingTrigger) -> Record | None:
        """The record a trigger is for (None if it was deleted since)."""

    @abc.abstractmethod
    def record_run(self, run: RunRecord, *, retention: int = 1000,
                   trigger_id: int | None = None) -> int:
        """Keep a run, forget the robot's runs beyond ``retention``, and take a
        trigger's run's trigger out of the outbox, all in one transaction."""

    @abc.abstractmethod
    def runs(self, *, robot: str | None = None, status: str | None = None,
             limit: int = 50) -> list[RunRecord]:
        """The newest runs, optionally of one robot or one status."""

    @abc.abstractmethod
    def run(self, run_id: int) -> RunRecord:
        """One run.

        Raises:
            RecordNotFound: no such run.
        """

    @abc.abstractmethod
    def put_view(self, view: View) -> None:
        """Create or replace a view.

        Raises:
            RecordNotFound: the view exists and belongs to another identity.
        """

    @abc.abstractmethod
    def get_view(self, view_id: str, user: str) -> View:
        """A view ``user`` may use: its own, or a manifest's.

        Raises:
            RecordNotFound: none such for this identity.
        """

    @abc.abstractmethod
    def delete_view(self, view_id: str, user: str) -> None:
        """Delete one of ``user``'s views.

        Raises:
            RecordNotFound: none such for this identity.
        """

    @abc.abstractmethod
    def session(self) -> StoreSession:
        """Open a unit of work."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
