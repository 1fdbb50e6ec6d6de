"""Syslog and journal files: which form a file is in, the reading of a record's header that telling it
needs, and where a resume's second begins; the native core reads the entries themselves."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, BinaryIO, Literal, NamedTuple
from zoneinfo import ZoneInfo

import orjson

from shipper.files.reader import REWIND_CHUNK, REWIND_LIMIT

Form = Literal["exim", "syslog", "journal"]
InputFormat = Literal["auto", "exim", "syslog", "journal"]
DEFAULT_PROGRAMS = ("exim", "exim4")
MAX_LINE_HEAD = 1 << 16  # enough of a line to read its record: a journal object is a few KiB

# --- a record's header: what telling the form and finding a resume's second need of it -------------

_MONTHS = {
    m.encode(): i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# The syslog tag: `exim[1234]: `, `exim4: `; the pid is optional (openlog without LOG_PID).
_TAG = rb"(?P<prog>[^\s\[\]:]{1,64})(?:\[(?P<pid>\d{1,10})\])?:(?: |$)"
_ISO = (
    rb"(?P<date>\d{4}-\d\d-\d\d)T(?P<hms>\d\d:\d\d:\d\d)(?:[.,](?P<frac>\d{1,9}))?"
    rb"(?P<tz>Z|z|[+-]\d\d:?\d\d)?"
)
# Traditional (RFC 3164) file format: `Jun 29 16:04:19 host exim[1234]: …`, the day space-padded.
_BSD_RE = re.compile(
    rb"(?:<(?P<pri>\d{1,3})>)?(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]?\d) (?P<hms>\d\d:\d\d:\d\d)"
    rb"(?:\.(?P<frac>\d{1,9}))? (?P<host>\S+) " + _TAG
)
# rsyslog's high-precision file format and `journalctl -o short-iso[-precise]`.
_ISO_RE = re.compile(rb"(?:<(?P<pri>\d{1,3})>)?" + _ISO + rb" (?P<host>\S+) " + _TAG)
# RFC 5424: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`, any header field may be the nil value `-`.
_5424_RE = re.compile(
    rb"<(?P<pri>\d{1,3})>1 (?:-|" + _ISO + rb") (?P<host>\S+) (?P<prog>\S+) (?P<pid>\S+) (?P<msgid>\S+) "
)
# Exim splits a message at newlines and every 870 characters into numbered syslog calls (log.c
# write_syslog): `[n\m]` when the piece ended at a newline, `[n/m]` when it was cut or is the last.
_PART_RE = re.compile(rb"\[(?P<n>\d{1,4})(?P<sep>[\\/])(?P<m>\d{1,4})\](?: |$)")
EXIM_STAMP_RE = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_BOM = b"\xef\xbb\xbf"


class SyslogTime(NamedTuple):
    """The wrapper's time as written; BSD syslog has no year (`year` is None) and often no zone."""

    year: int | None
    month: int
    day: int
    hms: str
    frac: str | None
    tz: str | None
    """`+hhmm`, or None for the configured zone."""


class Wrapped(NamedTuple):
    """One syslog or journal record: the message Exim passed to syslog() and what the wrapper added."""

    message: bytes
    time: SyslogTime | None
    host: str | None
    program: str
    pid: int | None
    priority: int | None
    """Severity (0-7) when the record says (journal PRIORITY, a `<PRI>` prefix)."""


class Part(NamedTuple):
    """Exim's `[n\\m]` / `[n/m]` marker: piece n of m; `newline` when a newline followed the piece."""

    n: int
    m: int
    newline: bool
    text: bytes


def _tz(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    if raw in (b"Z", b"z"):
        return "+0000"
    return raw.decode().replace(":", "")


def _int(raw: bytes | None) -> int | None:
    return int(raw) if raw is not None and raw.isdigit() else None


def _iso_time(m: re.Match[bytes]) -> SyslogTime | None:
    d = m.group("date")
    if d is None:
        return None
    frac = m.group("frac")
    return SyslogTime(
        int(d[0:4]),
        int(d[5:7]),
        int(d[8:10]),
        m.group("hms").decode(),
        frac.decode() if frac else None,
        _tz(m.group("tz")),
    )


def _skip_structured_data(line: bytes, pos: int) -> int:
    """Position after RFC 5424 STRUCTURED-DATA (`-` or `[id k="v"…]…`) and the space before MSG."""
    if line.startswith(b"-", pos):
        pos += 1
    else:
        n = len(line)
        while pos < n and line[pos : pos + 1] == b"[":
            quoted = False
            pos += 1
            while pos < n:
                c = line[pos : pos + 1]
                if c == b"\\":
                    pos += 2
                    continue
                if c == b'"':
                    quoted = not quoted
                elif c == b"]" and not quoted:
                    pos += 1
                    break
                pos += 1
    return pos + 1 if line.startswith(b" ", pos) else pos


def parse_syslog(line: bytes) -> Wrapped | None:
    """A syslog file line (BSD, RFC 3339 high-precision or RFC 5424), or None when it is none of them."""
    first = line[:1]
    if first == b"<":
        m = _5424_RE.match(line)
        if m is not None:
            pid = _int(m.group("pid"))
            msg = line[_skip_structured_data(line, m.end()) :]
            host = m.group("host")
            return Wrapped(
                msg.removeprefix(_BOM),
                _iso_time(m),
                None if host == b"-" else host.decode("utf-8", "replace"),
                m.group("prog").decode("utf-8", "replace"),
                pid,
                int(m.group("pri")) & 7,
            )
    m = _ISO_RE.match(line) if first.isdigit() or first == b"<" else None
    time = _iso_time(m) if m is not None else None
    if m is None:
        m = _BSD_RE.match(line)
        if m is not None:
            month = _MONTHS.get(m.group("mon"))
            if month is None:
                return None
            frac = m.group("frac")
            time = SyslogTime(
                None,
                month,
                int(m.group("day")),
                m.group("hms").decode(),
                frac.decode() if frac else None,
                None,
            )
    if m is None:
        return None
    pri = m.group("pri")
    return Wrapped(
        line[m.end() :],
        time,
        m.group("host").decode("utf-8", "replace"),
        m.group("prog").decode("utf-8", "replace"),
        _int(m.group("pid")),
        int(pri) & 7 if pri else None,
    )


def _field_bytes(value: Any) -> bytes | None:
    """A journal field: a string, an array of byte values (not UTF-8), or several values (the first)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list) and value:
        if all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return bytes(value)
        return _field_bytes(value[0])
    return None


def _field_str(obj: dict[str, Any], *names: str) -> str | None:
    for name in names:
        raw = _field_bytes(obj.get(name))
        if raw is not None:
            return raw.decode("utf-8", "replace")
    return None


def parse_journal(line: bytes) -> Wrapped | None:
    """One `journalctl -o json` (or json-seq) line, or None when it is not a journal record."""
    line = line.removeprefix(b"\x1e")
    if not line.startswith(b"{"):
        return None
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or ("MESSAGE" not in obj and "__REALTIME_TIMESTAMP" not in obj):
        return None
    # journalctl writes null for a field over 4096 bytes unless --all: the entry's text is gone.
    message = _field_bytes(obj.get("MESSAGE")) or b""
    time = None
    usec = _field_str(obj, "__REALTIME_TIMESTAMP")
    if usec is not None and usec.isdigit():
        try:
            when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(usec))
            time = SyslogTime(
                when.year, when.month, when.day, when.strftime("%H:%M:%S"), f"{when.microsecond:06d}", "+0000"
            )
        except OverflowError:
            time = None
    pid = _field_str(obj, "SYSLOG_PID", "_PID")
    pri = _field_str(obj, "PRIORITY")
    return Wrapped(
        message,
        time,
        _field_str(obj, "_HOSTNAME"),
        _field_str(obj, "SYSLOG_IDENTIFIER", "_COMM") or "",
        int(pid) if pid is not None and pid.isdigit() else None,
        int(pri) if pri is not None and pri.isdigit() else None,
    )


def split_part(message: bytes) -> Part | None:
    """Exim's piece marker at the start of a syslog message, or None when the message is whole."""
    m = _PART_RE.match(message)
    if m is None:
        return None
    n, total = int(m.group("n")), int(m.group("m"))
    if not 1 <= n <= total or total < 2:
        return None
    return Part(n, total, m.group("sep") == b"\\", message[m.end() :])


def exim_stamp(t: SyslogTime, year: int) -> bytes:
    """The time in Exim's own prefix form, `YYYY-MM-DD HH:MM:SS[.mmm][ ±hhmm]`."""
    out = f"{year:04d}-{t.month:02d}-{t.day:02d} {t.hms}"
    if t.frac:
        out += "." + t.frac[:3].ljust(3, "0")
    if t.tz:
        out += " " + t.tz
    return out.encode("ascii")


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


@dataclass(frozen=True)
class SyslogForm:
    """How the native core is to unwrap a syslog file or journal export (`Reader(form=...)`): its form,
    the programs whose lines are Exim's, the date year-less BSD dates are read against, and whether the
    record's host names the server; and where a resume's second begins in such a file."""

    form: Literal["syslog", "journal"]
    anchor: date
    """The date BSD syslog's year-less dates are read against (the file's mtime, or today)."""
    programs: frozenset[str] = frozenset(DEFAULT_PROGRAMS)
    host_from_syslog: bool = True
    """Use the syslog host as host.name (false when a server name is configured)."""

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
        """The second an Exim entry starting on this line is dated in (the first 19 bytes of its text,
        up to the year of a BSD date, which has none: only equality is asked)."""
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


def form_for(
    setting: InputFormat,
    head: bytes,
    *,
    mtime: float | None,
    zone: str,
    programs: Iterable[str],
    host_from_syslog: bool,
) -> SyslogForm | None:
    """How a stream is wrapped, from the setting or its first bytes; None for Exim's own format.

    `mtime` (None: now) anchors BSD syslog's year-less dates, in the server's zone.
    """
    form = choose_form(setting, head)
    if form == "exim":
        return None
    anchor = datetime.fromtimestamp(time.time() if mtime is None else mtime, ZoneInfo(zone)).date()
    return SyslogForm(form, anchor, frozenset(programs), host_from_syslog)
