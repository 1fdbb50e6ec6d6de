"""Syslog and journald records around Exim's lines: one record -> Exim's text and the wrapper's facts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from shipper.exim.event import Document

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


class Origin(NamedTuple):
    """What the wrapper said about one assembled Exim entry, for the event document."""

    host: str | None
    program: str
    pid: int | None
    host_name: str | None
    """host.name to set (the syslog host unless a server name is configured), or None to keep it."""
    dataset: str | None = None
    """`exim.reject` / `exim.panic` for the copies Exim also sends to syslog; None: the stream's own."""
    priority: int | None = None
    restamped: bool = False
    """Exim wrote no timestamp (syslog_timestamp = false): the syslog one was put in front."""
    incomplete: bool = False
    """Some of the entry's `[n\\m]` pieces never arrived."""


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


class YearGuess:
    """Years for BSD syslog dates, which carry none, from an anchor date (the file's mtime, or today).

    The first date takes the latest year that does not put it after the anchor (a log read in January
    with December lines is last year's); later dates add a year each time the month jumps back by
    more than half a year (December to January), and never pass the anchor.
    """

    SLACK = timedelta(days=1)  # clock skew and zone differences between the writer and the anchor

    def __init__(self, anchor: date) -> None:
        self.anchor = anchor
        self.year: int | None = None
        self.month = 0

    def _latest(self, month: int, day: int) -> int | None:
        limit = self.anchor + self.SLACK
        for year in range(self.anchor.year + 1, self.anchor.year - 9, -1):
            try:
                if date(year, month, day) <= limit:
                    return year
            except ValueError:  # 29 February of a common year, or an impossible day
                continue
        return None

    def __call__(self, month: int, day: int) -> int | None:
        if self.year is None:
            self.year = self._latest(month, day)
            self.month = month
            return self.year
        year = self.year
        if month < self.month - 6:
            year += 1  # past New Year
        elif month > self.month + 6:
            return year - 1  # a late line from before New Year: it does not move the year back
        try:
            valid = date(year, month, day) <= self.anchor + self.SLACK
        except ValueError:
            valid = False
        if not valid:
            return self._latest(month, day)
        self.year, self.month = year, month
        return year


def exim_stamp(t: SyslogTime, year: int) -> bytes:
    """The time in Exim's own prefix form, `YYYY-MM-DD HH:MM:SS[.mmm][ ±hhmm]`."""
    out = f"{year:04d}-{t.month:02d}-{t.day:02d} {t.hms}"
    if t.frac:
        out += "." + t.frac[:3].ljust(3, "0")
    if t.tz:
        out += " " + t.tz
    return out.encode("ascii")


def apply_origin(doc: Document, origin: Origin) -> None:
    """The wrapper's facts on a parsed event: host, pid, `log.syslog.*`, and tags that say what was done."""
    if origin.host_name:
        doc["host"] = {"name": origin.host_name}
    if origin.pid is not None:
        doc.setdefault("process", {}).setdefault("pid", origin.pid)
    syslog: dict[str, Any] = {"appname": origin.program}
    if origin.host:
        syslog["hostname"] = origin.host
    if origin.pid is not None:
        syslog["procid"] = str(origin.pid)
    if origin.priority is not None:
        syslog["severity"] = {"code": origin.priority}
    doc.setdefault("log", {})["syslog"] = syslog
    tags = [
        t
        for t, on in (
            ("timestamp_from_syslog", origin.restamped),
            ("syslog_parts_missing", origin.incomplete),
        )
        if on
    ]
    if tags:
        doc["tags"] = [*doc.get("tags", []), *tags]
