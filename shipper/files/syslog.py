"""Syslog and journal input: which form a file is in, and Exim's entries assembled from its wrapped lines."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import BinaryIO, Literal
from zoneinfo import ZoneInfo

from shipper.exim.syslog import (
    EXIM_STAMP_RE,
    Origin,
    Wrapped,
    YearGuess,
    exim_stamp,
    parse_journal,
    parse_syslog,
    split_part,
)
from shipper.files.reader import MAX_ENTRY_BYTES, REWIND_CHUNK, REWIND_LIMIT, RawEntry

Form = Literal["exim", "syslog", "journal"]
InputFormat = Literal["auto", "exim", "syslog", "journal"]
DEFAULT_PROGRAMS = ("exim", "exim4")
# Pieces of one split message arrive back to back; one still missing after this many other lines
# (or with this many entries waiting behind it) is given up on, so memory stays bounded.
MAX_WAIT_LINES = 1000
MAX_OPEN = 256
MAX_LINE_HEAD = 1 << 16  # enough of a line to read its record: a journal object is a few KiB
# Journal severities of Exim's three logs (log.c: main LOG_INFO, reject LOG_NOTICE, panic LOG_ALERT;
# LOG_CRIT is its last-ditch report when the panic log cannot be written).
_DATASET_BY_PRIORITY = {6: None, 5: "exim.reject", 1: "exim.panic", 2: "exim.panic"}


def detect_format(head: bytes) -> Form:
    """The form of a stream from its first lines: the first line that is one of them decides."""
    lines = head.split(b"\n")
    if len(lines) > 1:
        lines.pop()  # after the last newline: empty, or a line cut off by the head's size
    for raw in lines[:100]:
        line = raw.rstrip(b"\r")
        if EXIM_STAMP_RE.match(line):
            return "exim"
        if parse_journal(line) is not None:
            return "journal"
        if parse_syslog(line) is not None:
            return "syslog"
    return "exim"


def choose_form(setting: InputFormat, head: bytes) -> Form:
    """The configured form, or the detected one for `auto`."""
    return detect_format(head) if setting == "auto" else setting


@dataclass(slots=True)
class _Pending:
    offset: int
    end: int
    key: tuple[str | None, str, int | None]
    wrapped: Wrapped
    stamp: bytes | None
    """The syslog time in Exim's form, put in front when Exim wrote no timestamp of its own."""
    chunks: list[bytes]
    size: int
    terminated: bool
    total: int = 1
    seen: int = 1
    newline_after: bool = False
    done: bool = True
    incomplete: bool = False
    last_line: int = 0


@dataclass
class SyslogAssembler:
    """Exim's entries from a syslog file's or journal export's lines, in the order they begin.

    Lines of other programs (postfix, dovecot, …) are skipped and counted in `skipped`: shipped as
    Exim entries they could only be `unrecognized`. The `[n\\m]` pieces Exim splits a message into are
    joined as Exim wrote it (a newline after `\\`, nothing after `/`), per host, program and pid, even
    when other lines come between them. An entry's `end` never goes backwards and never passes the
    first line of an entry still waiting for pieces, so a checkpoint at it loses nothing.
    """

    form: Literal["syslog", "journal"]
    anchor: date
    """The date BSD syslog's year-less dates are read against (the file's mtime, or today)."""
    programs: frozenset[str] = frozenset(DEFAULT_PROGRAMS)
    host_from_syslog: bool = True
    """Use the syslog host as host.name (false when a server name is configured)."""
    skipped: int = 0
    """Lines of other programs."""
    unreadable: int = 0
    """Lines that are neither a record of this form nor an Exim line."""
    _open: deque[_Pending] = field(default_factory=deque)
    _waiting: dict[tuple[str | None, str, int | None], _Pending] = field(default_factory=dict)
    _last_first: dict[tuple[str | None, str, int | None], tuple[bytes, bool]] = field(default_factory=dict)
    _years: YearGuess | None = None
    _emitted_end: int = 0
    _lines: int = 0

    def __post_init__(self) -> None:
        self._years = YearGuess(self.anchor)

    def fresh(self) -> SyslogAssembler:
        """An assembler with the same configuration and no state (a truncated file starts again)."""
        return SyslogAssembler(self.form, self.anchor, self.programs, self.host_from_syslog)

    def feed(self, offset: int, line: bytes, terminated: bool) -> list[RawEntry]:
        self._lines += 1
        end = offset + len(line) + (1 if terminated else 0)
        line = line.removesuffix(b"\r")
        wrapped = parse_journal(line) if self.form == "journal" else parse_syslog(line)
        if wrapped is None:
            if EXIM_STAMP_RE.match(line):  # an Exim log line among the records: keep it as it is
                self._open.append(self._plain(offset, end, line, terminated))
            elif line.strip():
                self.unreadable += 1
            return self._release()
        if wrapped.program not in self.programs:
            self.skipped += 1
            return self._release()
        key = (wrapped.host, wrapped.program, wrapped.pid)
        part = split_part(wrapped.message)
        waiting = self._waiting.get(key)
        if part is not None and part.n > 1:
            if waiting is not None and part.n == waiting.seen + 1 and part.m == waiting.total:
                self._append(waiting, part.text, part.newline, end, terminated)
                if part.n == part.m:
                    self._finish(waiting)
                return self._release()
            if waiting is not None:
                self._finish(waiting, incomplete=True)
            # A piece whose beginning was never seen (a file that starts mid-message) stands alone.
            orphan = self._new(offset, end, wrapped, part.text, terminated)
            orphan.incomplete = True
            self._open.append(orphan)
            return self._release()
        if waiting is not None:
            self._finish(waiting, incomplete=True)
        text = part.text if part is not None else wrapped.message
        entry = self._new(offset, end, wrapped, text, terminated)
        if part is not None:
            entry.total, entry.newline_after, entry.done = part.m, part.newline, False
            self._waiting[key] = entry
        self._open.append(entry)
        return self._release()

    def flush(self) -> list[RawEntry]:
        """Everything still held, at the end of the stream (or when the file has gone quiet)."""
        for entry in list(self._waiting.values()):
            self._finish(entry, incomplete=True)
        return self._release()

    def second_start(self, fh: BinaryIO, offset: int) -> int:
        """reader.same_second_start for a wrapped file: where the Exim entries of the second that the
        entry at `offset` is in begin, so a resume counts the twins before it (their content ids)."""
        if offset <= 0:
            return 0
        fd = fh.fileno()
        at = os.pread(fd, MAX_LINE_HEAD, offset).partition(b"\n")[0]
        second = self._second_of(at)
        if second is None:
            return offset
        begin = offset
        for start, line in _lines_before(fd, offset, REWIND_LIMIT):
            found = self._second_of(line)
            if found is None:
                continue  # other programs' lines, and later pieces of a split message
            if found != second:
                break
            begin = start
        return begin

    def _second_of(self, line: bytes) -> bytes | None:
        """The second an Exim entry starting on this line is dated in (the first 19 bytes of its
        `data`, up to the year of a BSD date, which has none: only equality is asked)."""
        line = line.removesuffix(b"\r")
        w = parse_journal(line) if self.form == "journal" else parse_syslog(line)
        if w is None:
            return line[:19] if EXIM_STAMP_RE.match(line) else None
        if w.program not in self.programs:
            return None
        part = split_part(w.message)
        if part is not None and part.n > 1:
            return None
        text = part.text if part is not None else w.message
        if EXIM_STAMP_RE.match(text):
            return text[:19]
        t = w.time
        return None if t is None else exim_stamp(t, t.year or 0)[:19]

    def _plain(self, offset: int, end: int, line: bytes, terminated: bool) -> _Pending:
        w = Wrapped(line, None, None, "", None, None)
        return _Pending(offset, end, (None, "", None), w, None, [line], len(line), terminated)

    def _new(
        self,
        offset: int,
        end: int,
        wrapped: Wrapped,
        text: bytes,
        terminated: bool,
    ) -> _Pending:
        stamp = None
        t = wrapped.time
        # Exim's own timestamp needs no other; a year-less date still moves the year guess along.
        if t is not None and self._years is not None and (t.year is None or not EXIM_STAMP_RE.match(text)):
            year = t.year if t.year is not None else self._years(t.month, t.day)
            if year is not None:
                stamp = exim_stamp(t, year)
        key = (wrapped.host, wrapped.program, wrapped.pid)
        return _Pending(
            offset, end, key, wrapped, stamp, [text], len(text), terminated, last_line=self._lines
        )

    def _append(self, entry: _Pending, text: bytes, newline: bool, end: int, terminated: bool) -> None:
        if entry.newline_after:
            entry.chunks.append(b"\n")
        entry.chunks.append(text)
        entry.size += len(text) + 1
        entry.seen += 1
        entry.newline_after = newline
        entry.end, entry.terminated, entry.last_line = end, terminated, self._lines
        if entry.size >= MAX_ENTRY_BYTES:
            self._finish(entry, incomplete=entry.seen < entry.total)

    def _finish(self, entry: _Pending, *, incomplete: bool = False) -> None:
        entry.done = True
        entry.incomplete = entry.incomplete or incomplete
        if self._waiting.get(entry.key) is entry:
            del self._waiting[entry.key]

    def _release(self) -> list[RawEntry]:
        if self._waiting:
            for entry in list(self._waiting.values()):
                if self._lines - entry.last_line > MAX_WAIT_LINES or len(self._open) > MAX_OPEN:
                    self._finish(entry, incomplete=True)
        out: list[RawEntry] = []
        while self._open and self._open[0].done:
            head = self._open[0]
            if self._waiting and any(not e.done and e.offset < head.end for e in self._open):
                break
            self._open.popleft()
            out.append(self._entry(head))
        return out

    def _entry(self, p: _Pending) -> RawEntry:
        self._emitted_end = max(self._emitted_end, p.end)
        text = b"".join(p.chunks)
        if not p.key[1]:  # a plain Exim line
            return RawEntry(p.offset, text, self._emitted_end, p.terminated)
        w = p.wrapped
        restamped = p.stamp is not None and EXIM_STAMP_RE.match(text) is None
        data = p.stamp + b" " + text if restamped and p.stamp is not None else text
        origin = Origin(
            host=w.host,
            program=w.program,
            pid=w.pid,
            host_name=w.host if self.host_from_syslog else None,
            dataset=self._dataset(p, text),
            priority=w.priority,
            restamped=restamped,
            incomplete=p.incomplete,
        )
        return RawEntry(p.offset, data, self._emitted_end, p.terminated, origin)

    def _dataset(self, p: _Pending, text: bytes) -> str | None:
        """Which of Exim's logs the entry was written for. The journal keeps the syslog priority; a
        syslog file does not, but Exim (syslog_duplication, the default) sends a rejection to syslog
        twice, the reject log's copy right after the main log's, with the header dump if any."""
        w = p.wrapped
        if self.form == "journal" and w.priority in _DATASET_BY_PRIORITY:
            return _DATASET_BY_PRIORITY[w.priority]
        first, _, rest = text.partition(b"\n")
        previous = self._last_first.get(p.key)
        copy = rest.startswith(b"Envelope-") or (previous is not None and previous == (first, False))
        if len(self._last_first) > 4096:
            self._last_first.clear()
        self._last_first[p.key] = (first, copy)
        return "exim.reject" if copy else None


def _lines_before(fd: int, end: int, limit: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of the complete lines before `end` (a line start), last first, at most `limit` back."""
    pos, buf, stop = end, b"", 0  # buf[:stop] is not yet yielded and ends with a newline
    while True:
        if stop > 0:
            nl = buf.rfind(b"\n", 0, stop - 1)
            if nl >= 0:
                yield pos + nl + 1, buf[nl + 1 : stop - 1]
                stop = nl + 1
                continue
        if pos == 0:
            if stop > 0:
                yield 0, buf[: stop - 1]
            return
        if end - pos >= limit:
            return
        size = min(REWIND_CHUNK, pos)
        pos -= size
        buf = os.pread(fd, size, pos) + buf[:stop]
        stop += size


def assembler_for(
    setting: InputFormat,
    head: bytes,
    *,
    mtime: float | None,
    zone: str,
    programs: Iterable[str],
    host_from_syslog: bool,
) -> SyslogAssembler | None:
    """The assembler a stream needs, from the setting or its first bytes; None for Exim's own format.

    `mtime` (None: now) anchors BSD syslog's year-less dates, in the server's zone.
    """
    form = choose_form(setting, head)
    if form == "exim":
        return None
    anchor = datetime.fromtimestamp(time.time() if mtime is None else mtime, ZoneInfo(zone)).date()
    return SyslogAssembler(form, anchor, frozenset(programs), host_from_syslog)
