"""Complete log entries from a byte stream: physical lines joined into logical Exim entries."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, Protocol

if TYPE_CHECKING:  # the Python parser's: shipper.exim.syslog reads its records from shipper.files.syslog
    from shipper.exim.syslog import Origin

EXIM_STAMP = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
# A physical line opens a new entry when it starts with a timestamp: Exim's, or a syslog or journal
# record's (BSD, RFC 3339 / 5424, a `journalctl -o json` object), so a wrapped line that reaches the
# plain reader is never glued to the entry before it. Every other line (header dumps, "Suggested
# action:", blank lines) continues the entry before it.
ENTRY_START = re.compile(
    rb"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d |<\d{1,3}>|\x1e?\{\""
)

CHUNK_SIZE = 1 << 20
# Exim caps an entry at 8 KiB, so anything far larger is not Exim's own: bound memory by
# cutting runaway entries and lines into pieces (every byte is still emitted, in order).
MAX_ENTRY_BYTES = 1 << 20
MAX_LINE_BYTES = 8 << 20


class RawEntry(NamedTuple):
    """One logical entry: its bytes (without the final newline) and where it sits in the stream."""

    offset: int
    """Byte offset of the entry's first byte in the (decompressed) stream."""
    data: bytes
    """The entry's physical lines joined by b"\\n"; CR bytes and invalid UTF-8 are kept as read."""
    end: int
    """Offset just past the entry's terminating newline (or its last byte when unterminated)."""
    terminated: bool
    """False when the stream ended before the entry's final newline (a truncated last line)."""
    origin: Origin | None = None
    """Syslog or journal input: what the wrapper said; `data` is then the entry in Exim's own form."""


class Assembler(Protocol):
    """Builds entries from a wrapped (syslog, journal) stream's physical lines: see files.syslog."""

    def feed(self, offset: int, line: bytes, terminated: bool) -> list[RawEntry]: ...

    def flush(self) -> list[RawEntry]: ...


class EntryAssembler:
    """Bytes in, logical entries out, each at most MAX_ENTRY_BYTES of joined lines and no physical line over
    MAX_LINE_BYTES: fed chunk by chunk, so it serves a stream read once and a file that is still growing.

    An entry is handed out once the line after it shows it complete (a new entry's start, or a line it
    cannot take). The last one is *held* (it may still get continuation lines) until `release`; a last
    line without its newline is *partial* until `finish` says the stream is over. Memory holds one entry
    and one line, both bounded, whatever arrives. A wrapped stream's (syslog, journal) `wrapped`
    assembler gets the physical lines instead and decides the entries (and skips other programs').
    """

    def __init__(self, start: int = 0, wrapped: Assembler | None = None) -> None:
        self.wrapped = wrapped
        self._consumed = start  # where the partial line begins
        self._line: list[bytes] = []  # the partial line's pieces (no newline yet), joined only when whole
        self._line_size = 0
        self._parts: list[bytes] = []
        self._offset = start
        self._size = 0
        self._end = start
        self._term = True

    @property
    def held(self) -> bool:
        """Whether an entry of complete lines waits for `release` (or its successor)."""
        return bool(self._parts) or self.wrapped is not None  # a wrapped one may hold split pieces

    @property
    def consumed(self) -> int:
        """Offset just past the last complete (or cut) physical line."""
        return self._consumed

    @property
    def fed(self) -> int:
        """Offset just past the last byte fed."""
        return self._consumed + self._line_size

    def feed(self, chunk: bytes) -> list[RawEntry]:
        out: list[RawEntry] = []
        pos = 0
        while True:
            nl = chunk.find(b"\n", pos)
            if nl == -1:
                break
            piece = chunk[pos:nl]
            if self._line:
                self._line.append(piece)
                piece = b"".join(self._line)
                self._line, self._line_size = [], 0
            self._add(self._consumed, piece, terminated=True, out=out)
            self._consumed += len(piece) + 1
            pos = nl + 1
        rest = chunk[pos:]
        if rest:
            self._line.append(rest)
            self._line_size += len(rest)
        while self._line_size > MAX_LINE_BYTES:
            # A runaway line: its first MAX_LINE_BYTES bytes go as an unterminated piece of their own.
            data = b"".join(self._line)
            piece, data = data[:MAX_LINE_BYTES], data[MAX_LINE_BYTES:]
            self._line, self._line_size = [data], len(data)
            self._add(self._consumed, piece, terminated=False, out=out)
            self._consumed += len(piece)
        return out

    def _add(self, offset: int, line: bytes, *, terminated: bool, out: list[RawEntry]) -> None:
        if self.wrapped is not None:
            out.extend(self.wrapped.feed(offset, line, terminated))
            return
        line_end = offset + len(line) + (1 if terminated else 0)
        if (
            self._parts
            and ENTRY_START.match(line) is None
            and self._term
            and self._size + len(line) < MAX_ENTRY_BYTES
        ):
            self._parts.append(line)
            self._size += len(line) + 1
            self._end, self._term = line_end, terminated
        else:
            out.extend(self.release())
            self._offset, self._parts, self._size = offset, [line], len(line)
            self._end, self._term = line_end, terminated
        if not terminated:
            out.extend(self.release())  # nothing can join a cut piece

    def release(self) -> list[RawEntry]:
        """The held entry, now taken as complete (a quiet poll, a stop, the end of the stream)."""
        if self.wrapped is not None:
            return self.wrapped.flush()  # pieces of a split message that stopped coming
        if not self._parts:
            return []
        entry = RawEntry(self._offset, b"\n".join(self._parts), self._end, self._term)
        self._parts, self._size = [], 0
        return [entry]

    def finish(self) -> list[RawEntry]:
        """Everything left, the partial last line too: for a stream known to be over."""
        out: list[RawEntry] = []
        if self._line:
            data = b"".join(self._line)
            self._line, self._line_size = [], 0
            self._add(self._consumed, data, terminated=False, out=out)
            self._consumed += len(data)
        out.extend(self.release())
        return out


def iter_entries(stream: BinaryIO, start: int = 0, assembler: Assembler | None = None) -> Iterator[RawEntry]:
    """Group a stream's physical lines into logical entries, in order, losing no byte (a wrapped
    stream's `assembler` decides instead, and skips other programs' lines)."""
    entries = EntryAssembler(start, assembler)
    while chunk := stream.read(CHUNK_SIZE):
        yield from entries.feed(chunk)
    yield from entries.finish()


def peek_head(stream: BinaryIO, size: int = 1 << 16) -> bytes:
    """The stream's first bytes, left unread (as much as its buffer holds), to tell its format by."""
    peek = getattr(stream, "peek", None)
    head: bytes = peek(size)[:size] if peek is not None else b""
    return head


REWIND_LIMIT = 16 << 20
REWIND_CHUNK = 1 << 16


def same_second_start(fh: BinaryIO, offset: int) -> int:
    """Where the entries of the second that `offset` is in begin (a line start at or before `offset`).

    Resuming at a checkpoint must first count the byte-identical entries written earlier in the same
    second, or an entry after it would take the id of its twin before it and be lost as "already there".
    Reads backwards in chunks, at most REWIND_LIMIT bytes; positional reads leave `fh` where it was.
    """
    if offset <= 0:
        return 0
    fd = fh.fileno()
    second = os.pread(fd, 19, offset)
    if not EXIM_STAMP.match(second):
        return offset  # at the end, or not at an entry: nothing after it shares a second with the past
    begin = offset
    pos = offset
    while pos > 0 and offset - pos < REWIND_LIMIT:
        size = min(REWIND_CHUNK, pos)
        pos -= size
        block = os.pread(fd, size, pos)
        # Each newline opens a line; a line opening at `pos` itself is seen with the block before.
        nl = block.rfind(b"\n")
        while nl != -1:
            line_start = pos + nl + 1
            head = block[nl + 1 : nl + 20]
            if len(head) < 19:
                head = os.pread(fd, 19, line_start)
            if EXIM_STAMP.match(head):
                if head != second:
                    return begin
                begin = line_start
            nl = block.rfind(b"\n", 0, nl)
    if pos == 0 and os.pread(fd, 19, 0) == second:
        begin = 0
    return begin
