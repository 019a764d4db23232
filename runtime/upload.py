"""Manual upload: records from a JSON document, a JSON array, NDJSON or CSV.

Rows are read lazily with the line (or element) they came from, written in
batches of :data:`BATCH_ROWS`, each batch all or nothing: a bad row stops the
upload with an error naming its line, and nothing of its batch is stored.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from runtime.exceptions import InvalidRecord, StoreError
from runtime.records import typed_text
from runtime.store.base import Principal, Store, WriteRequest

BATCH_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Row:
    """One record to be: its data and where it came from (``line 12``, ``element 3``)."""

    where: str
    data: Any


class UploadError(InvalidRecord):
    """A row could not be read or stored; the message names it."""


def rows_of(stream: IO[str], *, name: str, each: bool, csv_format: bool) -> Iterator[Row]:
    """Yield the rows of ``stream``: the whole document, or each element, line or CSV row.

    Raises:
        UploadError: malformed JSON or CSV, naming the file and line.
    """
    if not each:
        text = stream.read()
        yield Row(f"{name}", _loads(text, f"{name}"))
        return
    if csv_format:
        yield from _csv_rows(stream, name)
        return
    first, skipped_lines = _first_char(stream)
    rest = _Prefixed(first, stream)
    if first == "[":
        yield from _array_rows(rest, name)
    else:
        yield from _ndjson_rows(rest, name, first_line=1 + skipped_lines)


def store_rows(store: Store, principal: Principal, rec_type: str, tags: tuple[str, ...],
               rows: Iterator[Row], on_batch: Callable[[int], None] | None = None) -> int:
    """Write ``rows`` in batches; return how many were stored.

    Raises:
        UploadError: a row could not be read or stored; earlier batches stay stored.
    """
    stored = 0
    batch: list[Row] = []
    with store.session() as session:
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                stored += _write_batch(session, principal, rec_type, tags, batch)
                batch = []
                if on_batch is not None:
                    on_batch(stored)
        if batch:
            stored += _write_batch(session, principal, rec_type, tags, batch)
            if on_batch is not None:
                on_batch(stored)
    return stored


def _write_batch(session: Any, principal: Principal, rec_type: str, tags: tuple[str, ...],
                 batch: list[Row]) -> int:
    requests = [WriteRequest(rec_type, row.data, tags) for row in batch]
    try:
        session.write_many(principal, requests, atomic=True)
    except InvalidRecord as exc:
        index = _failed_index(str(exc))
        where = batch[index].where if index is not None else "a row"
        raise UploadError(f"{where}: {exc}; nothing of its batch was stored") from exc
    except StoreError as exc:
        raise UploadError(f"{batch[0].where} to {batch[-1].where}: {exc}") from exc
    session.commit()
    return len(batch)


def _failed_index(message: str) -> int | None:
    found = re.match(r"record (\d+) of the batch", message)
    return int(found.group(1)) - 1 if found else None


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UploadError(f"{where}: malformed JSON: {exc.msg} at line {exc.lineno} column "
                          f"{exc.colno}") from exc


def _first_char(stream: IO[str]) -> tuple[str, int]:
    """Read past leading white space; return the first other character and the lines passed."""
    lines = 0
    while True:
        char = stream.read(1)
        if char == "" or not char.isspace():
            return char, lines
        lines += char == "\n"


class _Prefixed(io.TextIOBase):
    """A text stream with a few characters put back in front."""

    def __init__(self, head: str, stream: IO[str]) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int | None = -1) -> str:
        head, self._head = self._head, ""
        if size is None or size < 0:
            return head + self._stream.read()
        return head + self._stream.read(max(0, size - len(head)))

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        head, self._head = self._head, ""
        if "\n" in head:
            line, _, rest = head.partition("\n")
            self._head = rest
            return line + "\n"
        return head + self._stream.readline()

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        while True:
            line = self.readline()
            if not line:
                return
            yield line


def _ndjson_rows(stream: IO[str] | io.TextIOBase, name: str, first_line: int) -> Iterator[Row]:
    for number, line in enumerate(stream, start=first_line):
        if line.strip():
            yield Row(f"{name}:{number}", _loads(line, f"{name}:{number}"))


def _array_rows(stream: IO[str] | io.TextIOBase, name: str) -> Iterator[Row]:
    document = _loads(stream.read(), name)
    if not isinstance(document, list):
        raise UploadError(f"{name}: expected a JSON array")
    for index, element in enumerate(document, start=1):
        yield Row(f"{name} element {index}", element)


def _csv_rows(stream: IO[str], name: str) -> Iterator[Row]:
    reader = csv.DictReader(stream)
    try:
        for row in reader:
            if None in row:
                raise UploadError(f"{name}:{reader.line_num}: more fields than the header has")
            yield Row(f"{name}:{reader.line_num}", {k: _cell(v) for k, v in row.items()})
    except csv.Error as exc:
        raise UploadError(f"{name}:{reader.line_num}: malformed CSV: {exc}") from exc


def _cell(value: str | None) -> Any:
    """A CSV cell as JSON would have it: numbers as numbers, the rest as text."""
    return None if value is None else typed_text(value)
