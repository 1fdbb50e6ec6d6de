"""Syslog and journald records around Exim's lines: the wrapper's facts on the Python parser's event (the
records themselves are read in shipper.files.syslog and by the native core)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, NamedTuple

from shipper.exim.event import Document

# The record readers moved to shipper.files.syslog (the form's detection, a resume's second); re-exported
# for this parser's tests until they run against the binding.
from shipper.files.syslog import parse_journal, parse_syslog, split_part

__all__ = ["Origin", "YearGuess", "apply_origin", "parse_journal", "parse_syslog", "split_part"]


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
