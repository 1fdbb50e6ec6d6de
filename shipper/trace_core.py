"""A trace's entries through the native core: fed to a correlating `Reader` (only the matching ones, or a
wrapped file whole), read back as documents with their message facts and where they are, and the facts
of the chosen ones folded into summaries by the core's correlator."""

from __future__ import annotations

import bisect
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal
from zoneinfo import ZoneInfo

import orjson

from shipper.errors import ConfigError
from shipper.files.archive import dataset_for
from shipper.files.reader import CHUNK_SIZE, ENTRY_START, EXIM_STAMP

if TYPE_CHECKING:
    from shipper._native import Partials
    from shipper.files.syslog import InputFormat

Hits = Callable[[bytes, int], Iterable[int]]
"""Where a buffer's first `end` bytes match: positions, ascending."""
At = tuple[int, int]
"""Where an entry is: (the file's place among the arguments, its byte offset)."""
Form = Literal["exim", "syslog", "journal"]


def _load() -> ModuleType | None:
    # Not shipper.files.native's loader: it brings the Python syslog reader, which a trace of Exim's own
    # format never needs (a tenth of a second of start-up, as long as exigrep's whole start).
    try:
        from shipper import _native  # noqa: PLC0415 - optional: built by `make native`
    except ImportError:
        return None
    return _native


core = _load()

_INDEX_PREFIX = "exim"
"""The index prefix the core names its documents' indices by: a trace shows neither."""
Batch = tuple[bytes, bytes, "Partials", Callable[[int], int]]
"""What the core gave for some entries: `(bulk, records)` as `Reader.feed` gives them, their message facts
(`Reader.partials`), and the map from an offset in what the reader was fed to the file's."""


def native_core() -> Any:
    """The extension module the entries are read with."""
    if core is None:
        raise ConfigError("trace needs the native core, which is not built here: run `make native`")
    return core


@dataclass(frozen=True, slots=True)
class Reading:
    """How the files of a trace are read: the core's context, and for syslog and journal files which
    records are Exim's (`programs`) and whose host names the entries (`host_from_syslog`)."""

    zone: str
    server: str
    form: InputFormat = "auto"
    programs: tuple[str, ...] = ("exim", "exim4")
    host_from_syslog: bool = True

    def check(self) -> None:
        """A zone the core does not know is one line, before any file is read."""
        try:
            native_core().Reader(server="", zone=self.zone, dataset="", path="", index_prefix=_INDEX_PREFIX)
        except ValueError:
            raise ConfigError(
                f"unknown time zone {self.zone!r}: an IANA name such as Europe/London"
            ) from None

    def reader(self, name: str, path: str, mtime: float | None, form: Form) -> Any:
        """A core `Reader` of one file (`mtime`: when it was last written, None for now)."""
        extra: dict[str, Any] = {}
        if form != "exim":
            # Year-less BSD dates are of the year the file was last written, in the server's zone.
            day = datetime.fromtimestamp(time.time() if mtime is None else mtime, ZoneInfo(self.zone)).date()
            extra = {
                "form": form,
                "anchor": (day.year, day.month, day.day),
                "programs": list(self.programs),
                "host_from_syslog": self.host_from_syslog,
            }
        return native_core().Reader(
            server=self.server,
            zone=self.zone,
            dataset=dataset_for(name),
            path=path,
            index_prefix=_INDEX_PREFIX,
            correlate=True,
            **extra,
        )


def form_of(setting: InputFormat, head: bytes) -> Form:
    """shipper.files.syslog's `choose_form`, loaded only for a stream that does not open with Exim's own
    timestamp (whose first line decides it: Exim's)."""
    if setting == "exim" or (setting == "auto" and (not head or EXIM_STAMP.match(head))):
        return "exim"
    from shipper.files.syslog import choose_form  # noqa: PLC0415 - see above

    return choose_form(setting, head)


@dataclass(frozen=True, slots=True)
class Hit:
    """One entry the core read, where it is: its message id (None: none), its document, and its batch's
    message facts with where the entry begins in what the reader was fed (their key)."""

    at: At
    local_id: str | None
    doc: dict[str, Any]
    parts: Partials
    fed_at: int

    @property
    def original(self) -> str:
        text: str = self.doc["event"]["original"]
        return text


def _same(offset: int) -> int:
    return offset


def through_core(reader: Any, entries: Iterable[tuple[int, bytes]]) -> Iterator[Batch]:
    """The entries (of Exim's own format) fed to the core back to back, a newline after each, as if they
    were the whole file: the reader goes on from one to the next (the zone's fold, the last time for an
    entry without one), and the batches map its offsets back to the file's."""
    virtual: list[int] = []  # where each entry begins in what the reader was fed
    real: list[int] = []  # and in the file

    def place(offset: int) -> int:
        i = bisect.bisect_right(virtual, offset) - 1
        return real[i] + offset - virtual[i]

    parts: list[bytes] = []
    size = 0
    for offset, data in entries:
        if size and ENTRY_START.match(data) is None:
            # A piece of runaway data: fed after the one before, it would join it.
            yield _fed(reader, reader.feed(b"".join(parts), reader.fed), place)
            parts.clear()
            size = 0
            yield _fed(reader, reader.release(), place)
        virtual.append(reader.fed + size)
        real.append(offset)
        parts += (data, b"\n")
        size += len(data) + 1
        if size >= CHUNK_SIZE:
            yield _fed(reader, reader.feed(b"".join(parts), reader.fed), place)
            parts.clear()
            size = 0
    if parts:
        yield _fed(reader, reader.feed(b"".join(parts), reader.fed), place)
    yield _fed(reader, reader.finish(), place)


def whole(reader: Any, stream: BinaryIO) -> Iterator[Batch]:
    """A syslog or journal file fed to the core whole: its records are unwrapped in order."""
    while chunk := stream.read(CHUNK_SIZE):
        yield _fed(reader, reader.feed(chunk, reader.fed), _same)
    yield _fed(reader, reader.finish(), _same)


def _fed(reader: Any, out: tuple[bytes, bytes], place: Callable[[int], int]) -> Batch:
    return out[0], out[1], reader.partials(), place


def hits_in(index: int, batches: Iterable[Batch], hits: Hits | None) -> Iterator[Hit]:
    """The entries of the batches (of the file at `index`), or (`hits`) those whose bulk lines `hits`
    finds something in."""
    record = struct.Struct(native_core().RECORD_FORMAT)
    for bulk, records, parts, place in batches:
        if not records:
            continue
        rows = list(record.iter_unpack(records))
        cuts = [0, *accumulate(row[2] for row in rows)]  # where each entry's bulk lines begin
        chosen: Iterable[int] = range(len(rows))
        if hits is not None:
            chosen = sorted({bisect.bisect_right(cuts, pos) - 1 for pos in hits(bulk, len(bulk))})
        for i in chosen:
            offset, _end, _bulk_len, action_len, *_, local_id, _code = rows[i]
            doc = orjson.loads(bulk[cuts[i] + action_len + 1 : cuts[i + 1] - 1])
            own = local_id.rstrip(b"\0").decode() or None
            yield Hit((index, place(offset)), own, doc, parts, offset)


class Summaries:
    """The core's correlator over some messages' entries, every message held open until `drain`: each
    summary comes out merged once, whatever the order its entries came in."""

    def __init__(self, messages: int) -> None:
        self.correlator = native_core().Correlator(max_open=messages + 1, index_prefix=_INDEX_PREFIX)
        self.added = 0

    def add(self, hit: Hit) -> None:
        """The entry's facts, if it has any, as the next entry of its message."""
        if hit.parts.fold(self.correlator, hit.fed_at, self.added):
            self.added += 1

    def drain(self) -> dict[str, dict[str, Any]]:
        """The summary documents by message id."""
        bulk, keys, count = self.correlator.drain()
        lines = bulk.split(b"\n")
        ids = keys.split(b"\0")
        return {ids[2 * i + 1].decode(): orjson.loads(lines[2 * i + 1]) for i in range(count)}
