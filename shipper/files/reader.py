"""Complete log entries from a byte stream: physical lines joined into logical Exim entries."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple, Protocol

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


def _physical_lines(stream: BinaryIO, start: int) -> Iterator[tuple[int, bytes, bool]]:
    """Yield (offset, line without b"\\n", terminated) for every physical line of the stream."""
    offset = start
    pending = b""
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            break
        buf = pending + chunk if pending else chunk
        lines = buf.split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield offset, line, True
            offset += len(line) + 1
        while len(pending) > MAX_LINE_BYTES:
            piece, pending = pending[:MAX_LINE_BYTES], pending[MAX_LINE_BYTES:]
            yield offset, piece, False
            offset += len(piece)
    if pending:
        yield offset, pending, False


def iter_entries(stream: BinaryIO, start: int = 0, assembler: Assembler | None = None) -> Iterator[RawEntry]:
    """Group a stream's physical lines into logical entries, in order, losing no byte (a wrapped
    stream's `assembler` decides instead, and skips other programs' lines)."""
    if assembler is not None:
        for offset, line, terminated in _physical_lines(stream, start):
            yield from assembler.feed(offset, line, terminated)
        yield from assembler.flush()
        return
    cur_offset = -1
    parts: list[bytes] = []
    size = 0
    cur_end = 0
    cur_term = True
    is_start = ENTRY_START.match
    for offset, line, terminated in _physical_lines(stream, start):
        line_end = offset + len(line) + (1 if terminated else 0)
        if parts and (is_start(line) is None) and cur_term and size + len(line) < MAX_ENTRY_BYTES:
            parts.append(line)
            size += len(line) + 1
            cur_end = line_end
            cur_term = terminated
            continue
        if parts:
            yield RawEntry(cur_offset, b"\n".join(parts), cur_end, cur_term)
        cur_offset, parts, size, cur_end, cur_term = offset, [line], len(line), line_end, terminated
    if parts:
        yield RawEntry(cur_offset, b"\n".join(parts), cur_end, cur_term)


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
