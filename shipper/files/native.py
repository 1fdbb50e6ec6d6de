"""Log files through the native core (`shipper._native`), Exim's own format and syslog or journal files:
chunks in, per entry its bulk lines as the core rendered them, or its bytes (and a wrapper's origin) for
the Python parser where the core left the placeholder."""

from __future__ import annotations

import base64
import operator
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate, compress, repeat
from types import ModuleType
from typing import Any, Protocol

import orjson

from shipper.exim.syslog import Origin
from shipper.files.reader import EntryAssembler, RawEntry
from shipper.files.syslog import SyslogAssembler


def _load() -> ModuleType | None:
    try:
        from shipper import _native  # noqa: PLC0415 - optional: built by `make native`
    except ImportError:
        return None
    return _native


core: ModuleType | None = _load()
"""The extension module, or None where it is not built: everything then runs on the Python path."""

ACTIONS: list[str] = list(core.ACTIONS) if core is not None else []
"""The names of the core's action codes."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Context:
    """What the core writes into every document of one file, and how it names its index and ids."""

    server: str
    zone: str
    dataset: str
    path: str
    index_prefix: str


class Rendered:
    """What one feed, release or finish gave: per entry, in order, a `RECORD_FORMAT` record in
    `records`, its action and document lines in `bulk` (the placeholder's, for the entries the core
    leaves to Python) and its line of message facts in `facts` (see `Entry`)."""

    __slots__ = ("bulk", "facts", "reader", "records")

    def __init__(self, bulk: bytes, records: bytes, facts: bytes, reader: NativeEntries) -> None:
        self.bulk = bulk
        self.records = records
        self.facts = facts
        self.reader = reader

    def __len__(self) -> int:
        return len(self.records) // self.reader.record_size

    def __iter__(self) -> Iterator[Entry]:
        """The entries, once and in order (the reader follows the stream's time through them)."""
        return self.reader.entries(self)

    def runs(self) -> Iterator[Run | Entry]:
        """The entries, once and in order, as runs of the core's documents and the placeholder's entries
        (see `NativeEntries.runs`)."""
        return self.reader.runs(self)

    @property
    def path(self) -> str:
        """The `log.file.path` the core wrote into the documents."""
        return self.reader.ctx.path

    @property
    def end(self) -> int:
        """Offset just past the last entry (a record's second little-endian u64 word)."""
        ends: int = struct.unpack_from("<Q", self.records, len(self.records) - self.reader.record_size + 8)[0]
        return ends


Entry = tuple[int, int, int, int, bytes, bytes, bytes, bytes, RawEntry | None, str | None]
"""`(code, offset, end, occurrence, facts, action, body, local_id, raw, stamp)`: the core's action code and
its action and document lines. Code > 0: the document is the entry's. Code 0, the placeholder (the
line catalogue is not ported yet): `raw` holds the entry's bytes for the Python parser, and `stamp`
the stream's last own `@timestamp` before it when the core stamped that one (None: the parser's own
last one stands), so that the parser goes on from where the core is (fold order, inherited stamps).
`local_id` is the prefix's message id, NUL-padded (all NUL: none). `facts`: for an entry the core
rendered with a message id, the JSON array of its partial summaries (`messages.partials.from_facts`
reads it), or `!` where the document must be read instead; empty for every other entry. A reader that
correlates writes no JSON: `=` there, its partials held in the reader for the native correlator."""


RUN_MAX = 1024
"""Documents in one `Run` at most."""


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive entries the core rendered (code > 0): their document lines back to back, each ending
    in its newline, and their action codes, a byte per entry."""

    lines: bytes
    codes: bytes


@dataclass(frozen=True, slots=True)
class Stretch:
    """Consecutive entries the core rendered, for the ship loop: their bulk lines in `bulk` from
    `cuts[0]` to `cuts[-1]` (entry `i`'s from `cuts[i]`), each entry's `offset` and `end` in the file,
    and which of them (`odd`, ascending) have a message id but no facts the core kept (`!`, or none
    written): Python makes those entries' partials."""

    bulk: bytes
    cuts: list[int]
    offsets: Sequence[int]
    ends: Sequence[int]
    odd: list[int]
    records: bytes
    """The entries' `RECORD_FORMAT` records."""

    def document(self, i: int) -> bytes:
        """Entry `i`'s document line, without its newline."""
        lines = self.bulk[self.cuts[i] : self.cuts[i + 1] - 1]
        return lines[lines.index(b"\n") + 1 :]

    def code(self, i: int) -> int:
        """Entry `i`'s action code (the record's last byte)."""
        return self.records[(i + 1) * _RECORD_SIZE - 1]

    def local_id(self, i: int) -> bytes:
        """Entry `i`'s message id, NUL-padded (see `Entry`)."""
        at = i * _RECORD_SIZE + _LOCAL_ID
        return self.records[at : at + 23]


@dataclass(frozen=True, slots=True)
class _Span:
    """Entries `start` to `stop` (exclusive) of a batch, all rendered by the core; `cuts` and `actions`
    are the batch's (where each entry's bulk lines begin, its action line's length)."""

    start: int
    stop: int
    cuts: list[int]
    actions: memoryview


_LOCAL_ID = 48
"""Where a record's `local_id` begins (RECORD_FORMAT `<QQIIIIqQ23sB`: `stretches` checks it)."""
_RECORD_SIZE = 72
_TWO_IF_ID = bytes([0, *[2] * 255])
_PYTHON_MAKES = {b"": 0, b"!": 0}
"""Facts lines after which Python makes the entry's partials (`stretches`); any other weighs 2."""


class NativeEntries:
    """The native `Reader` behind EntryAssembler's interface (feed, release, finish, consumed, fed, held),
    returning `Rendered` batches instead of entries: assembly, occurrences and the resume point are the
    core's, so a source hands it its bytes and checkpoints by the records' offsets."""

    def __init__(
        self,
        ctx: Context,
        start: int,
        resume: int,
        wrapped: SyslogAssembler | None = None,
        *,
        correlate: bool = False,
    ) -> None:
        """`correlate`: the reader keeps its entries' partials for a native correlator."""
        assert core is not None
        self.ctx = ctx
        self.correlate = correlate
        # A syslog or journal file: the core unwraps it with the Python assembler's configuration (the
        # Python one still finds a resume's second, reading the file backwards).
        form: dict[str, Any] = {}
        if wrapped is not None:
            a = wrapped.anchor
            form = {
                "form": wrapped.form,
                "anchor": (a.year, a.month, a.day),
                "programs": sorted(wrapped.programs),
                "host_from_syslog": wrapped.host_from_syslog,
            }
        self.wrapped = wrapped is not None
        self.reader: Any = core.Reader(
            server=ctx.server,
            zone=ctx.zone,
            dataset=ctx.dataset,
            path=ctx.path,
            index_prefix=ctx.index_prefix,
            start=start,
            resume=resume,
            correlate=correlate,
            **form,
        )
        self.record_size: int = core.RECORD_SIZE
        self._record = struct.Struct(core.RECORD_FORMAT)
        self._terminated = core.FLAG_TERMINATED
        self._bad_utf8 = core.FLAG_BAD_UTF8
        # `runs` reads the lengths as the records' native 32-bit words 4 and 5 and the code as the last
        # byte: true of this layout on a little-endian machine (else it takes `entries`' way).
        fmt = core.RECORD_FORMAT
        self._words = (
            sys.byteorder == "little" and fmt == "<QQIIIIqQ23sB" and self.record_size == _RECORD_SIZE
        )
        # The last entry the core rendered since the Python parser's last (its document, epoch ms):
        # the time the parser must go on from before the next entry it reads.
        self._followed: tuple[bytes, int] | None = None

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
        return Rendered(bulk, records, self.reader.facts(), self)

    def release(self) -> Rendered:
        bulk, records = self.reader.release()
        return Rendered(bulk, records, self.reader.facts(), self)

    def finish(self) -> Rendered:
        bulk, records = self.reader.finish()
        return Rendered(bulk, records, self.reader.facts(), self)

    def entries(self, batch: Rendered) -> Iterator[Entry]:
        """The batch's entries in order (see `Entry`)."""
        bulk = batch.bulk
        pos = 0
        facts = iter(batch.facts.split(b"\n"))
        for (
            offset,
            end,
            bulk_len,
            action_len,
            occ,
            flags,
            ms,
            _pid,
            local_id,
            code,
        ) in self._record.iter_unpack(batch.records):
            fact = next(facts)
            nxt = pos + bulk_len
            body = bulk[pos + action_len + 1 : nxt - 1]
            if code:
                # A claimed entry always has its own valid time: Python's parser must follow it.
                self._followed = body, ms
                yield code, offset, end, occ, fact, bulk[pos : pos + action_len], body, local_id, None, None
            else:
                stamp = None
                if self._followed is not None:
                    stamp = self._stamp(*self._followed)
                    self._followed = None  # the Python parser reads this entry: it knows its own time
                raw = self._raw(body, offset, end, flags)
                yield 0, offset, end, occ, fact, bulk[pos : pos + action_len], body, local_id, raw, stamp
            pos = nxt

    def runs(self, batch: Rendered) -> Iterator[Run | Entry]:
        """The batch in order, without a Python step per entry the core rendered: each stretch of such
        entries as `Run`s, their document lines cut from `bulk` by the records' lengths, each placeholder's
        entry as `entries` gives it, for the Python parser."""
        if not self._words:
            yield from self.entries(batch)
            return
        bulk = memoryview(batch.bulk)
        codes = batch.records[self.record_size - 1 :: self.record_size]
        for got in self._spans(batch):
            if not isinstance(got, _Span):
                yield got
                continue
            cuts, actions = got.cuts, got.actions
            for i in range(got.start, got.stop, RUN_MAX):  # a bounded copy at a time: peak RSS
                cut = min(i + RUN_MAX, got.stop)
                spans = zip(cuts[i:cut], actions[i:cut], cuts[i + 1 : cut + 1], strict=True)
                docs = [bulk[s + a + 1 : e] for s, a, e in spans]  # views: one copy, the join's
                yield Run(b"".join(docs), codes[i:cut])

    def stretches(self, batch: Rendered) -> Iterator[Stretch | Entry]:
        """The batch in order for the ship loop, without a Python step per entry the core rendered: each
        stretch of such entries as a `Stretch` (their bulk lines as they are), each placeholder's entry as
        `entries` gives it."""
        if not self._words:
            yield from self.entries(batch)
            return
        size = self.record_size
        records = batch.records
        words = memoryview(records).cast("Q")  # a record is 9 words: `offset` the first, `end` the second
        offsets, ends = words[0 :: size // 8], words[1 :: size // 8]
        facts = batch.facts.split(b"\n")
        # 2 where the entry has a message id (`local_id`'s first byte not NUL), else 0.
        ids = records[_LOCAL_ID::size].translate(_TWO_IF_ID)
        for got in self._spans(batch):
            if not isinstance(got, _Span):
                yield got
                continue
            start, stop = got.start, got.stop
            # The entries whose partials Python makes: a message id, and `!` or no facts (weight 0; a
            # JSON array, or `=` for partials a correlating reader kept, weigh 2). Iterators all through:
            # no Python step per entry.
            short = map(operator.lt, map(_PYTHON_MAKES.get, facts[start:stop], repeat(2)), ids[start:stop])
            odd = list(compress(range(stop - start), short))
            cuts = got.cuts[start : stop + 1]
            records_of = records[start * size : stop * size]
            yield Stretch(batch.bulk, cuts, offsets[start:stop], ends[start:stop], odd, records_of)

    def _spans(self, batch: Rendered) -> Iterator[_Span | Entry]:
        """The batch in order as spans of the entries the core rendered and the placeholder's entries
        (as `entries` gives them), the follow state kept as `entries` keeps it."""
        size = self.record_size
        records = batch.records
        # Each record as 32-bit words: `bulk_len` is the fifth, `action_len` the sixth (RECORD_FORMAT).
        words = memoryview(records).cast("I")
        cuts = [0, *accumulate(words[4 :: size // 4])]  # where each entry's bulk lines begin, and the end
        actions = words[5 :: size // 4]
        codes = records[size - 1 :: size]  # the record's last byte
        start = 0
        while start < len(codes):
            zero = codes.find(0, start)
            stop = len(codes) if zero < 0 else zero
            if stop > start:
                yield _Span(start, stop, cuts, actions)
            if zero < 0:
                break
            if zero > start:  # `entries`' follow state: the core's last document before this one
                self._followed = self._document(batch, zero - 1, cuts, actions)
            offset, end, _, _, occ, flags, _, _, local_id, _ = self._record.unpack_from(records, zero * size)
            stamp = None
            if self._followed is not None:
                stamp = self._stamp(*self._followed)
                self._followed = None
            body = self._document(batch, zero, cuts, actions)[0]
            raw = self._raw(body, offset, end, flags)
            action = batch.bulk[cuts[zero] : cuts[zero] + actions[zero]]
            # A placeholder's line of facts is always empty.
            yield 0, offset, end, occ, b"", action, body, local_id, raw, stamp
            start = zero + 1
        if codes and codes[-1]:
            self._followed = self._document(batch, len(codes) - 1, cuts, actions)

    def _document(self, batch: Rendered, i: int, cuts: list[int], actions: memoryview) -> tuple[bytes, int]:
        """Entry `i`'s document line (without its newline) and its `timestamp_ms`."""
        ms: int = self._record.unpack_from(batch.records, i * self.record_size)[6]
        return batch.bulk[cuts[i] + actions[i] + 1 : cuts[i + 1] - 1], ms

    def _raw(self, placeholder: bytes, offset: int, end: int, flags: int) -> RawEntry:
        # The placeholder keeps every byte of the entry: its text, or (bad UTF-8) its base64 as well.
        doc = orjson.loads(placeholder)
        if flags & self._bad_utf8:
            data = base64.b64decode(doc["exim"]["original_base64"])
        else:
            data = doc["event"]["original"].encode()
        origin = _origin(doc) if self.wrapped else None
        return RawEntry(offset, data, end, bool(flags & self._terminated), origin)

    @staticmethod
    def _stamp(doc: bytes, ms: int) -> str:
        """The `@timestamp` of a document the core rendered: it writes it first, as Python does."""
        if doc.startswith(b'{"@timestamp":"'):
            return doc[15:39].decode()
        t = _EPOCH + timedelta(milliseconds=ms)
        return (
            f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
            f".{t.microsecond // 1000:03d}Z"
        )


def _origin(doc: dict[str, Any]) -> Origin | None:
    """A syslog or journal entry's origin, read back from the placeholder the core applied it to."""
    s = doc.get("log", {}).get("syslog")
    if s is None:
        return None  # a plain Exim line among the records
    tags = doc.get("tags", [])
    host = s.get("hostname")
    pid = s.get("procid")
    return Origin(
        host=host,
        program=s["appname"],
        pid=None if pid is None else int(pid),
        # The record's host is host.name only when it replaced the server's (the same either way when equal).
        host_name=host if host is not None and doc.get("host", {}).get("name") == host else None,
        dataset=doc["event"]["dataset"],
        priority=s.get("severity", {}).get("code"),
        restamped="timestamp_from_syslog" in tags,
        incomplete="syslog_parts_missing" in tags,
    )


Polled = list[RawEntry] | Rendered
"""What a source's poll gives: entries for the Python parser, or a batch the core rendered."""

Reading = EntryAssembler | NativeEntries
"""A source's reader of entries."""


class NativeFor(Protocol):
    """The native reader of a file at `(path, start, resume)`, `wrapped` the syslog or journal assembler
    of a wrapped file (None: Exim's own format), or None (the core is not built, or cannot take the
    file's settings): then the Python reader reads it."""

    def __call__(
        self, path: str, start: int, resume: int, wrapped: SyslogAssembler | None = None
    ) -> NativeEntries | None: ...


def last_end(polled: Polled) -> int | None:
    """Offset just past the last entry polled (None: nothing polled)."""
    if isinstance(polled, Rendered):
        return polled.end if len(polled) else None
    return polled[-1].end if polled else None


def joined(parts: list[Polled]) -> Polled:
    """Several polls' output as one (one reader's, in order)."""
    batches = [p for p in parts if isinstance(p, Rendered) and len(p)]
    if batches:
        if len(batches) == 1:
            return batches[0]
        bulk = b"".join(b.bulk for b in batches)
        records = b"".join(b.records for b in batches)
        return Rendered(bulk, records, b"".join(b.facts for b in batches), batches[0].reader)
    return [e for p in parts if not isinstance(p, Rendered) for e in p]


def native_for(
    server: str, zone: str, index_prefix: str, dataset: Callable[[str], str], *, correlate: bool = False
) -> NativeFor | None:
    """A NativeFor of these settings, or None when the core is not built or does not know the zone;
    `correlate`: its readers keep their partials for a native correlator."""
    if core is None:
        return None
    try:
        core.Reader(server=server, zone=zone, dataset="", path="", index_prefix=index_prefix)
    except ValueError:
        return None  # a zone chrono-tz does not know: the Python path reads it as before

    def make(path: str, start: int, resume: int, wrapped: SyslogAssembler | None = None) -> NativeEntries:
        ctx = Context(server, zone, dataset(path), path, index_prefix)
        return NativeEntries(ctx, start, resume, wrapped, correlate=correlate)

    return make
