"""What Python still knows of a log's lines: where an entry starts, the limits the core reads entries with, a
stream's head, and where a resume's second begins (the core, native/exim-log, assembles the entries)."""

from __future__ import annotations

import os
import re
from typing import BinaryIO

EXIM_STAMP = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
# A physical line opens a new entry when it starts with a timestamp: Exim's, or a syslog or journal
# record's (BSD, RFC 3339 / 5424, a `journalctl -o json` object), so a wrapped line that reaches the
# plain reader is never glued to the entry before it. Every other line (header dumps, "Suggested
# action:", blank lines) continues the entry before it.
ENTRY_START = re.compile(
    rb"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d |<\d{1,3}>|\x1e?\{\""
)

CHUNK_SIZE = 1 << 20
# The core's (native/exim-log, assemble.rs) cap on one entry: Exim caps an entry at 8 KiB, so anything far
# larger is not Exim's own and goes in pieces. `trace` bounds the context it keeps around a hit by it.
MAX_ENTRY_BYTES = 1 << 20


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
