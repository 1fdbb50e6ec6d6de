"""Log files through the native core (`shipper._native`, required): Exim's own format and syslog or journal
files, chunks in, per entry its bulk lines as the core rendered them and its record out."""

from __future__ import annotations

import functools
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from types import ModuleType
from typing import Any, Literal, Protocol

from shipper.errors import ConfigError, NativeMissing
from shipper.exim.actions import ACTIONS as ACTION_TABLE
from shipper.files.syslog import SyslogForm

RECORD_FORMAT = "<QQIIIIqQ23sB"
"""The records this module reads (`runs` and `stretch` slice them as words: checked at load)."""
RECORD_SIZE = struct.calcsize(RECORD_FORMAT)
_NEEDED = ("Reader", "Correlator", "Summaries", "ACTIONS", "RECORD_FORMAT", "RECORD_SIZE")


def _load() -> ModuleType:
    try:
        from shipper import _native  # noqa: PLC0415 - loaded at a command's start, so a failure is one line
    except ImportError as exc:
        raise NativeMissing(
            f"the native core (shipper._native) is not installed or does not load ({exc}): "
            "run `make install`, or install the wheel built for this machine"
        ) from None
    missing = [name for name in _NEEDED if not hasattr(_native, name)]
    # A module built from older sources: its records or its action codes would be read wrongly.
    if (
        missing
        or _native.RECORD_FORMAT != RECORD_FORMAT
        or _native.RECORD_SIZE != RECORD_SIZE
        or list(_native.ACTIONS) != ["unrecognized", *(a for a in ACTION_TABLE if a != "unrecognized")]
    ):
        raise NativeMissing(
            f"the native core ({_native.__file__}) is stale, built from other sources than this "
            "package's: run `make install`"
        )
    return _native


@functools.cache
def core() -> ModuleType:
    """The extension module, checked once; NativeMissing when it is not built or is stale."""
    return _load()


@functools.cache
def actions() -> list[str]:
    """The names of the core's action codes (0: `unrecognized`)."""
    return list(core().ACTIONS)


def correlator(max_open: int, index_prefix: str) -> Any:
    """A native correlator (`shipper._native.Correlator`): one file's partials in, its summaries' bulk
    items out, at most `max_open` unfinished messages held."""
    make = core().Correlator
    return make(max_open=max_open, index_prefix=index_prefix)


@dataclass(frozen=True, slots=True)
class Context:
    """What the core writes into every document of one file, and how it names its index and ids."""

    server: str
    zone: str
    dataset: str
    path: str
    index_prefix: str


Output = Literal["bulk", "documents", "nothing"]
"""What a reader's batches hold of each entry in `bulk`: its action and document lines (the ship loop),
its document line alone (`parse`: no content id is computed) or nothing (`parse --messages`, which
writes the summaries: the records and the partials alone)."""


class Rendered:
    """What one feed, release or finish gave: per entry, in order, a `RECORD_FORMAT` record in
    `records` and, as its reader's `Output` says, its action and document lines in `bulk` (see
    `Entry`). A correlating reader keeps the entries' message facts itself, for its correlator."""

    __slots__ = ("bulk", "reader", "records")

    def __init__(self, bulk: bytes, records: bytes, reader: NativeEntries) -> None:
        self.bulk = bulk
        self.records = records
        self.reader = reader

    def __len__(self) -> int:
        return len(self.records) // RECORD_SIZE

    def __iter__(self) -> Iterator[Entry]:
        """The entries, in order."""
        return self.reader.entries(self)

    @property
    def path(self) -> str:
        """The `log.file.path` the core wrote into the documents."""
        return self.reader.ctx.path

    @property
    def codes(self) -> bytes:
        """The entries' action codes, a byte each (a record's last byte)."""
        return self.records[RECORD_SIZE - 1 :: RECORD_SIZE]

    @property
    def end(self) -> int:
        """Offset just past the last entry (a record's second little-endian u64 word)."""
        ends: int = struct.unpack_from("<Q", self.records, len(self.records) - RECORD_SIZE + 8)[0]
        return ends


Entry = tuple[int, int, int, int, bytes, bytes, bytes]
"""`(code, offset, end, occurrence, action, body, local_id)`: the core's action code (0: `unrecognized`),
where the entry sits in the file, its action and document lines, and the prefix's message id,
NUL-padded (all NUL: none)."""


@dataclass(frozen=True, slots=True)
class Stretch:
    """A batch's entries for the ship loop: their bulk lines in `bulk` from `cuts[0]` to `cuts[-1]` (entry
    `i`'s from `cuts[i]`) and where each ends in the file."""

    bulk: bytes
    cuts: list[int]
    ends: Sequence[int]


class NativeEntries:
    """The native `Reader` of one file (feed, release, finish, consumed, fed, held), returning `Rendered`
    batches: assembly, occurrences and the resume point are the core's, so a source hands it its bytes
    and checkpoints by the records' offsets."""

    def __init__(
        self,
        ctx: Context,
        start: int,
        resume: int,
        wrapped: SyslogForm | None = None,
        *,
        correlate: bool = False,
        output: Output = "bulk",
    ) -> None:
        """`wrapped`: how a syslog or journal file is unwrapped (None: Exim's own format); `correlate`:
        the reader keeps its entries' partials for a native correlator; `output`: what its batches'
        `bulk` holds (`entries` and `stretch` read the ship loop's, "bulk")."""
        native = core()
        self.ctx = ctx
        self.correlate = correlate
        form: dict[str, Any] = {}
        if wrapped is not None:
            a = wrapped.anchor
            form = {
                "form": wrapped.form,
                "anchor": (a.year, a.month, a.day),
                "programs": sorted(wrapped.programs),
                "host_from_syslog": wrapped.host_from_syslog,
            }
        self.reader: Any = native.Reader(
            server=ctx.server,
            zone=ctx.zone,
            dataset=ctx.dataset,
            path=ctx.path,
            index_prefix=ctx.index_prefix,
            start=start,
            resume=resume,
            correlate=correlate,
            output=output,
            **form,
        )
        self._record = struct.Struct(RECORD_FORMAT)

    @property
    def held(self) -> bool:
        return bool(self.reader.held)

    @property
    def consumed(self) -> int:
        return int(self.reader.consumed)

    @property
    def fed(self) -> int:
        return int(self.reader.fed)

    @property
    def skipped(self) -> int:
        """A syslog or journal file's lines of other programs, read and not shipped."""
        return int(self.reader.skipped)

    @property
    def unreadable(self) -> int:
        """A syslog or journal file's lines that are neither a record of its form nor an Exim line."""
        return int(self.reader.unreadable)

    def feed(self, chunk: bytes) -> Rendered:
        bulk, records = self.reader.feed(chunk, self.reader.fed)
        return Rendered(bulk, records, self)

    def release(self) -> Rendered:
        bulk, records = self.reader.release()
        return Rendered(bulk, records, self)

    def finish(self) -> Rendered:
        bulk, records = self.reader.finish()
        return Rendered(bulk, records, self)

    def nothing(self) -> Rendered:
        """An empty batch of this reader (a poll that read nothing)."""
        return Rendered(b"", b"", self)

    def entries(self, batch: Rendered) -> Iterator[Entry]:
        """The batch's entries in order (see `Entry`)."""
        bulk = batch.bulk
        pos = 0
        for (
            offset,
            end,
            bulk_len,
            action_len,
            occ,
            _flags,
            _ms,
            _pid,
            local_id,
            code,
        ) in self._record.iter_unpack(batch.records):
            nxt = pos + bulk_len
            action, body = bulk[pos : pos + action_len], bulk[pos + action_len + 1 : nxt - 1]
            yield code, offset, end, occ, action, body, local_id
            pos = nxt

    def stretch(self, batch: Rendered) -> Stretch:
        """The batch for the ship loop, without a Python step per entry: its bulk lines as they are."""
        cuts, _ = _cuts(batch)
        return Stretch(batch.bulk, cuts, _words(batch.records, "Q", 1))


def _words(records: bytes, kind: Literal["I", "Q"], at: int) -> Sequence[int]:
    """Word `at` of each record, the records read as words of `kind` (`Q`: u64, `I`: u32)."""
    size = struct.calcsize(kind)
    if sys.byteorder == "little":
        return memoryview(records).cast(kind)[at :: RECORD_SIZE // size]
    return [
        struct.unpack_from("<" + kind, records, i + at * size)[0] for i in range(0, len(records), RECORD_SIZE)
    ]


def _cuts(batch: Rendered) -> tuple[list[int], Sequence[int]]:
    """Where each entry's bulk lines begin (and the end, last), and each action line's length: the
    records' `bulk_len` and `action_len` (RECORD_FORMAT's fifth and sixth 32-bit words)."""
    records = batch.records
    return [0, *accumulate(_words(records, "I", 4))], _words(records, "I", 5)


class NativeFor(Protocol):
    """The native reader of a file at `(path, start, resume)`, `wrapped` how a syslog or journal file is
    unwrapped (None: Exim's own format)."""

    def __call__(
        self, path: str, start: int, resume: int, wrapped: SyslogForm | None = None
    ) -> NativeEntries: ...


def last_end(polled: Rendered) -> int | None:
    """Offset just past the last entry polled (None: nothing polled)."""
    return polled.end if len(polled) else None


def joined(parts: list[Rendered], reader: NativeEntries) -> Rendered:
    """Several polls of `reader` as one, in order."""
    batches = [p for p in parts if len(p)]
    if not batches:
        return reader.nothing()
    if len(batches) == 1:
        return batches[0]
    bulk = b"".join(b.bulk for b in batches)
    records = b"".join(b.records for b in batches)
    return Rendered(bulk, records, reader)


def native_for(
    server: str,
    zone: str,
    index_prefix: str,
    dataset: Callable[[str], str],
    *,
    correlate: bool = False,
    output: Output = "bulk",
) -> NativeFor:
    """A NativeFor of these settings (`correlate`: its readers keep their partials for a native
    correlator; `output`: what their batches hold, see `Output`); NativeMissing when the core is not
    built, ConfigError when it does not know the zone."""
    try:
        core().Reader(server=server, zone=zone, dataset="", path="", index_prefix=index_prefix)
    except ValueError as exc:
        raise ConfigError(f"timezone {zone!r}: the native core cannot read it ({exc})") from None

    def make(path: str, start: int, resume: int, wrapped: SyslogForm | None = None) -> NativeEntries:
        ctx = Context(server, zone, dataset(path), path, index_prefix)
        return NativeEntries(ctx, start, resume, wrapped, correlate=correlate, output=output)

    return make
