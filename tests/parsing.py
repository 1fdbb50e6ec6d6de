"""Test-side reading of Exim text through the native core (`shipper._native`): per entry its document,
index, `_id` and record, and `parse --messages`' summaries, as the CLI and the ship loop drive the core."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, BinaryIO, NamedTuple

import orjson

from shipper import _native as core
from shipper.messages import Partial, from_state

SERVER = "mx1.example.net"
"""The server name of a test's documents unless it names another."""
PROGRAMS = ("exim", "exim4")
"""The syslog tags of Exim's lines (the settings' default `syslog_programs`)."""

_RECORD = struct.Struct(core.RECORD_FORMAT)


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry as the core wrote it: its document, where its bulk action line sends it, and its record."""

    doc: dict[str, Any]
    index: str
    id: str
    offset: int
    end: int
    flags: int
    code: int
    facts: bytes
    """Its message facts as the correlating reader holds them (`Reader.partials`), in `to_state`'s form: the
    JSON array of its partials, or empty (none)."""

    @property
    def second_pass(self) -> bool:
        """Stamped in the repeated hour of a fall-back, after time went back."""
        return bool(self.flags & core.FLAG_SECOND_PASS)

    @property
    def terminated(self) -> bool:
        """Its last line ended in a newline."""
        return bool(self.flags & core.FLAG_TERMINATED)


@dataclass(slots=True)
class Log:
    """A whole stream's entries, and what a syslog or journal stream read and did not ship."""

    entries: list[Entry] = field(default_factory=list)
    skipped: int = 0
    unreadable: int = 0

    @property
    def docs(self) -> list[dict[str, Any]]:
        return [e.doc for e in self.entries]


def _reader(
    *,
    zone: str,
    server: str,
    dataset: str,
    path: str,
    form: str,
    anchor: date,
    programs: Iterable[str],
    host_from_syslog: bool,
    correlate: bool = False,
    start: int = 0,
) -> core.Reader:
    return core.Reader(
        server=server,
        zone=zone,
        dataset=dataset,
        path=path,
        index_prefix="exim",
        form=form,
        anchor=(anchor.year, anchor.month, anchor.day),
        programs=sorted(programs),
        host_from_syslog=host_from_syslog,
        correlate=correlate,
        start=start,
    )


def _batches(
    reader: core.Reader, raw: bytes, *, start: int = 0, chunk: int = 1 << 16, facts: bool = False
) -> Iterator[list[Entry]]:
    """The entries of each call, `chunk` bytes fed at a time from offset `start`, then the finish; with
    `facts`, each batch's message facts are taken from the (correlating) reader into its entries."""
    for at in range(0, len(raw), chunk):
        bulk, records = reader.feed(raw[at : at + chunk], start + at)
        yield _unpack(bulk, records, reader.partials() if facts else None)
    bulk, records = reader.finish()
    yield _unpack(bulk, records, reader.partials() if facts else None)


def _unpack(bulk: bytes, records: bytes, parts: core.Partials | None) -> list[Entry]:
    out = []
    pos = 0
    held = set() if parts is None else set(parts.offsets())
    for offset, end, bulk_len, action_len, _occ, flags, _ms, _pid, _id, code in _RECORD.iter_unpack(records):
        action = orjson.loads(bulk[pos : pos + action_len])["create"]
        doc = orjson.loads(bulk[pos + action_len + 1 : pos + bulk_len - 1])
        state = (parts.state(offset) or b"") if parts is not None and offset in held else b""
        out.append(Entry(doc, action["_index"], action["_id"], offset, end, flags, code, state))
        pos += bulk_len
    if parts is not None:
        assert held <= {e.offset for e in out}, "facts only of the batch's own entries"
    return out


def read(
    data: str | bytes,
    *,
    zone: str = "UTC",
    server: str = SERVER,
    dataset: str = "exim.main",
    path: str = "-",
    form: str = "exim",
    anchor: date = date(2025, 7, 1),
    programs: Iterable[str] = PROGRAMS,
    host_from_syslog: bool = True,
    chunk: int = 1 << 16,
    start: int = 0,
) -> Log:
    """Every entry of a stream (`form` `exim`, `syslog` or `journal`), fed `chunk` bytes at a time and
    finished, as `exim-shipper parse` reads a file (its message facts too, as `--messages` reads them);
    `start`: the offset in the file where `data` begins (a reader resuming there)."""
    raw = data.encode() if isinstance(data, str) else data
    reader = _reader(
        zone=zone,
        server=server,
        dataset=dataset,
        path=path,
        form=form,
        anchor=anchor,
        programs=programs,
        host_from_syslog=host_from_syslog,
        correlate=True,
        start=start,
    )
    log = Log()
    for batch in _batches(reader, raw, start=start, chunk=chunk, facts=True):
        log.entries += batch
    log.skipped, log.unreadable = reader.skipped, reader.unreadable
    return log


def documents(data: str | bytes, **context: Any) -> list[dict[str, Any]]:
    """The documents of a stream's entries, in order (`read`'s context)."""
    return read(data, **context).docs


def parse(data: str | bytes, tz: str = "UTC", dataset: str = "exim.main", **context: Any) -> dict[str, Any]:
    """The document of one entry (the text must hold exactly one)."""
    (doc,) = documents(data, zone=tz, dataset=dataset, **context)
    return doc


def summaries(
    data: str | bytes,
    *,
    max_open: int = 100_000,
    zone: str = "UTC",
    server: str = SERVER,
    dataset: str = "exim.main",
    form: str = "exim",
    anchor: date = date(2025, 7, 1),
) -> list[dict[str, Any]]:
    """`parse --messages`' summary documents of a stream, in first-seen order: the reader keeps its
    entries' partials and folds them into the core's `Summaries`."""
    raw = data.encode() if isinstance(data, str) else data
    reader = _reader(
        zone=zone,
        server=server,
        dataset=dataset,
        path="-",
        form=form,
        anchor=anchor,
        programs=PROGRAMS,
        host_from_syslog=True,
        correlate=True,
    )
    sums = core.Summaries(max_open=max_open)
    out = bytearray()
    for _batch in _batches(reader, raw):
        reader.summarize(sums, 1 << 63)  # every entry returned so far
        out += sums.take()
    while lines := sums.finish():
        out += lines
    return [orjson.loads(line) for line in bytes(out).splitlines()]


def summaries_by_id(data: str | bytes, **context: Any) -> dict[str, dict[str, Any]]:
    """`summaries` by message id (one server)."""
    return {s["email"]["local_id"]: s for s in summaries(data, **context)}


def original_bytes(doc: dict[str, Any]) -> bytes:
    """The exact bytes a document was read from: `event.original`, or its base64 twin (bad UTF-8)."""
    b64 = doc.get("exim", {}).get("original_base64")
    if b64 is not None:
        return base64.b64decode(b64)
    text: str = doc["event"]["original"]
    return text.encode("utf-8")


class Raw(NamedTuple):
    """One logical entry as the core cut it from a stream: where it sits and its exact bytes (without the
    newline that ends it)."""

    offset: int
    data: bytes
    end: int
    terminated: bool


def raw_entries(data: bytes | BinaryIO, **context: Any) -> list[Raw]:
    """The logical entries of a stream (bytes or a binary file read to its end) as the core assembles
    them: continuations joined, runaway entries and lines cut, no byte lost (`read`'s context)."""
    raw = data if isinstance(data, bytes) else data.read()
    return [Raw(e.offset, original_bytes(e.doc), e.end, e.terminated) for e in read(raw, **context).entries]


def states(data: str | bytes, **context: Any) -> list[dict[str, Any]]:
    """The partial summaries the core makes of a stream's entries, in order, each as its mergeable state
    (`shipper.messages.to_state`'s form: `from_state` reads it)."""
    entries = read(data, **context).entries
    return [state for e in entries if e.facts for state in orjson.loads(e.facts)]


def partials(data: str | bytes, **context: Any) -> list[Partial]:
    """The core's partial summaries of a stream's entries, in order (`states` read back by `from_state`)."""
    return [from_state(state) for state in states(data, **context)]


def stored(
    data: str | bytes, *, max_open: int, server: str = SERVER, zone: str = "UTC", dataset: str = "exim.main"
) -> list[dict[str, Any]]:
    """The summary documents the ship loop's correlator (`shipper._native.Correlator`) hands out for a
    stream, in order: finished and evicted messages as they leave, the open ones drained at the end,
    each with the `exim.merge_state` it is stored with."""
    raw = data.encode() if isinstance(data, str) else data
    reader = _reader(
        zone=zone,
        server=server,
        dataset=dataset,
        path="-",
        form="exim",
        anchor=date(1970, 1, 1),
        programs=PROGRAMS,
        host_from_syslog=True,
        correlate=True,
    )
    loop = core.Correlator(max_open=max_open, index_prefix="exim")
    bulk = bytearray()
    for batch in _batches(reader, raw):
        for entry in batch:
            reader.correlate(loop, entry.end)  # an entry at a time: what leaves, leaves at its entry
            bulk += loop.older_than(0)[0]
    bulk += loop.drain()[0]
    lines = bytes(bulk).splitlines()
    return [orjson.loads(doc) for doc in lines[1::2]]
