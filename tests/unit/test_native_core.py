"""The native core's record side (shipper._native): entries, offsets and flags, chunking and resume
points, a panic's cost, local times through every zone transition, and any bytes taken losslessly.
The documents themselves are held to the recorded output of the Python path it replaced by
test_golden.py, and read field by field in the other tests."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.parsing import original_bytes

native = pytest.importorskip("shipper._native", reason="native core not built (make native)")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORD = struct.Struct(native.RECORD_FORMAT)


@dataclass(frozen=True)
class NativeEntry:
    offset: int
    end: int
    occurrence: int
    flags: int
    timestamp_ms: int
    pid: int
    local_id: str
    action: bytes
    body: bytes


def native_entries(data: bytes, chunk: int, **ctx: Any) -> list[NativeEntry]:
    reader = native.Reader(**ctx)
    out: list[NativeEntry] = []

    def take(bulk: bytes, records: bytes) -> None:
        pos = 0
        for offset, end, bulk_len, action_len, occ, flags, ts, pid, lid, _ in RECORD.iter_unpack(records):
            lines = bulk[pos : pos + bulk_len]
            action, body = lines[:action_len], lines[action_len + 1 : -1]
            out.append(
                NativeEntry(offset, end, occ, flags, ts, pid, lid.rstrip(b"\0").decode(), action, body)
            )
            pos += bulk_len
        assert pos == len(bulk)

    for i in range(0, len(data), chunk):
        take(*reader.feed(data[i : i + chunk], i))
    take(*reader.finish())
    return out


def test_chunking_and_the_resume_point_change_nothing_but_what_is_emitted() -> None:
    data = (FIXTURES / "fleet_a.log").read_bytes()
    ctx = {"server": "mx1", "zone": "UTC", "dataset": "exim.main", "path": "a", "index_prefix": "exim"}
    whole = native_entries(data, 1 << 20, **ctx)
    assert native_entries(data, 7, **ctx) == whole
    cut = whole[len(whole) // 2].end
    assert native_entries(data, 4096, resume=cut, **ctx) == [e for e in whole if e.end > cut]


def test_a_panic_inside_the_core_costs_one_entrys_detail() -> None:
    data = b"2025-01-01 10:00:00 [9] fine\n2025-01-01 10:00:01 \x01panic\x01 here\n2025-01-01 10:00:02 next\n"
    ctx = {"server": "", "zone": "UTC", "dataset": "exim.main", "path": "p", "index_prefix": "exim"}
    got = native_entries(data, 1 << 20, panic_on=True, **ctx)
    assert [bool(e.flags & native.FLAG_PANICKED) for e in got] == [False, True, False]
    doc = orjson.loads(got[1].body)
    assert doc["event"]["original"] == "2025-01-01 10:00:01 \x01panic\x01 here"
    assert doc["event"]["action"] == "unrecognized"
    assert doc["exim"]["parse_error"].startswith("panic: ")
    assert doc["@timestamp"] == "2025-01-01T10:00:01.000Z"


def test_a_chunk_out_of_place_is_refused() -> None:
    reader = native.Reader(server="", zone="UTC", dataset="exim.main", path="p", index_prefix="e", start=10)
    reader.feed(b"2025-01-01 10:00:00 a\n", 10)
    with pytest.raises(ValueError, match="expected 32"):
        reader.feed(b"x", 0)
    with pytest.raises(ValueError, match="unknown time zone"):
        native.Reader(server="", zone="Mars/Olympus", dataset="d", path="p", index_prefix="e")


ZONES = [
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",  # negative DST in the rules
    "America/New_York",
    "America/St_Johns",  # half-hour offset
    "Australia/Lord_Howe",  # half-hour DST
    "Pacific/Apia",  # skipped a whole day in 2011
    "Africa/Casablanca",  # DST suspended each Ramadan
    "Asia/Kolkata",
]


def _transitions(zone: ZoneInfo, year: int) -> list[datetime]:
    """UTC instants (to the hour) at which the zone's offset changes during `year`."""
    out = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    prev = t.astimezone(zone).utcoffset()
    while t.year == year:
        t += timedelta(hours=1)
        off = t.astimezone(zone).utcoffset()
        if off != prev:
            out.append(t)
            prev = off
    return out


JITTER = timedelta(minutes=5)
"""How far a line may be stamped before the one ahead of it before a repeated time reads as its second pass."""


def _readings(lines: list[bytes], zone: ZoneInfo) -> list[tuple[str, bool]]:
    """The rule docs/fields.md gives, from zoneinfo alone: a time in a fall-back's repeated hour reads as
    its first pass (fold=0) unless that is more than JITTER before the line ahead of it (then the second
    pass, flagged); a time in a spring-forward gap takes the offset from before the change (fold=0)."""
    out: list[tuple[str, bool]] = []
    last: datetime | None = None
    for line in lines:
        wall = datetime.strptime(line[:19].decode(), "%Y-%m-%d %H:%M:%S")
        first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        again = second > first and last is not None and first < last - JITTER
        stamp = second if again else first
        out.append((stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"), again))
        last = stamp
    return out


@pytest.mark.parametrize("zone_name", ZONES)
def test_local_times_through_every_transition_convert_by_the_rule(zone_name: str) -> None:
    """Lines stamped every 7 minutes of real time through each change (a fall-back's repeated hour
    comes twice, as Exim writes it), and local times inside a spring-forward gap, in order: each line
    reads as `_readings` says (so the lines of real instants read as those instants)."""
    zone = ZoneInfo(zone_name)
    lines: list[bytes] = []
    for year in (1975, 2000, 2011, 2025, 2037, 2040):
        lines += [f"{year}-01-01 12:00:00 x\n".encode(), f"{year}-07-01 12:00:00 x\n".encode()]
        for at in _transitions(zone, year):
            for step in range(-40, 41):
                local = (at + timedelta(minutes=7 * step)).astimezone(zone)
                lines.append(local.strftime("%Y-%m-%d %H:%M:%S").encode() + b" x\n")
            gap_start = (at - timedelta(minutes=1)).astimezone(zone) + timedelta(minutes=1)
            lines.append(gap_start.strftime("%Y-%m-%d %H:%M:%S").encode() + b" in a gap, if any\n")
    data = b"".join(lines)
    want = _readings(lines, zone)
    ctx = {"server": "", "zone": zone_name, "dataset": "exim.main", "path": "p", "index_prefix": "e"}
    got = [
        (orjson.loads(e.body).get("@timestamp"), bool(e.flags & native.FLAG_SECOND_PASS))
        for e in native_entries(data, 1 << 20, **ctx)
    ]
    assert got == want


_PIECES = st.sampled_from(
    [
        b"2025-10-26 02:30:00 ",
        b"2025-03-30 02:30:00.123 +0100 [42] 1tXaaa-00000001abc-0ABC ",
        b"2025-02-29 24:61:99 10HmaX-0005vi-00 ",
        b"Jan  5 10:00:00 host exim[1]: ",
        b"<13>",
        b'{"',
        b"\n",
        b"\r\n",
        b"  continued",
        b"\xff\xe2\x82",
        'é\u2028"\\\t\x00'.encode(),
    ]
)
_LOGGY = st.lists(st.one_of(_PIECES, st.binary(max_size=12)), max_size=30).map(b"".join)


@given(data=_LOGGY, chunk=st.integers(1, 64))
@hypothesis_settings(max_examples=150, deadline=None)
def test_any_bytes_are_taken_whole_and_whatever_the_chunks(data: bytes, chunk: int) -> None:
    """Never raises; the entries tile the stream (each starts where the one before ended) and each
    document's original (or its base64 twin), with the newline that ended it, is the entry's exact bytes,
    so the stream comes back whole; fed `chunk` bytes at a time, the entries are those of one feed."""
    ctx = {"server": "mx", "zone": "Europe/Berlin", "dataset": "exim.main", "path": "p", "index_prefix": "e"}
    got = native_entries(data, chunk, **ctx)
    assert got == native_entries(data, max(len(data), 1), **ctx)
    back, at = b"", 0
    for e in got:
        assert not e.flags & native.FLAG_PANICKED
        assert e.offset == at
        terminated = bool(e.flags & native.FLAG_TERMINATED)
        piece = original_bytes(orjson.loads(e.body)) + (b"\n" if terminated else b"")
        assert e.end == e.offset + len(piece)
        back += piece
        at = e.end
    assert back == data
