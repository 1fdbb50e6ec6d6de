"""The native core (shipper._native, built by `make native`) against the Python path it replaces: entry
offsets, bulk action lines (index and content id) and the prefix fields of every document, on the test
fixtures and the ../shared corpus; whole documents where Python leaves the entry `unrecognized`.

Skipped when the extension is not built. Whole documents of the kinds the core claims: test_native_documents.py."""

from __future__ import annotations

import io
import struct
from collections import Counter
from collections.abc import Iterator
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

from shipper.exim.grammar import PREFIX_RE
from shipper.exim.parse import EntryParser, original_bytes
from shipper.exim.timestamps import TimestampConverter
from shipper.files.archive import dataset_for
from shipper.files.reader import iter_entries
from shipper.opensearch.documents import action_line, dumps, event_id, event_index
from shipper.pipeline import Shipper
from shipper.settings import Settings
from tests.conftest import SHARED

native = pytest.importorskip("shipper._native", reason="native core not built (make native)")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORD = struct.Struct(native.RECORD_FORMAT)
# Document fields the core makes without the line catalogue.
PREFIX_FIELDS = ("@timestamp", "log")
PREFIX_TAGS = frozenset({"timestamp_inherited", "invalid_timestamp"})
EXIM_FIELDS = ("original_base64", "timestamp_raw")


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


def python_items(
    path: Path, shipper: Shipper, zone: str, dataset: str
) -> Iterator[tuple[int, int, bytes, bytes]]:
    """The Python parser's bulk lines of each entry, as the ship loop made them before the core: the
    reference the core is held to until the parser is deleted."""
    from shipper.exim.enrich import enrich

    parser = EntryParser(zone, "mx1", dataset=dataset)
    second, seen = b"", Counter[bytes]()  # byte-identical entries of one second: their occurrences
    with path.open("rb") as fh:
        for entry in iter_entries(fh):
            if entry.data[:19] != second:
                second, seen = entry.data[:19], Counter()
            occ = seen[entry.data]
            seen[entry.data] += 1
            doc = enrich(parser.parse(entry.data, entry.origin))
            doc["log"] = {**doc.get("log", {}), "file": {"path": str(path)}, "offset": entry.offset}
            index = event_index(shipper.settings.index_prefix, doc)
            doc_id = event_id(
                shipper.server,
                entry.data,
                occ,
                doc["event"].get("dataset", dataset),
                second_pass=parser.second_pass,
            )
            yield entry.offset, entry.end, action_line("create", index, doc_id), dumps(doc)


def logs() -> list[tuple[Path, str]]:
    found = [(p, dataset_for(p)) for p in sorted(FIXTURES.rglob("*.log"))]
    corpus = SHARED / "corpus" / "exim-testsuite"
    for sub, dataset in (("mainlog", "exim.main"), ("rejectlog", "exim.reject"), ("paniclog", "exim.panic")):
        if (corpus / sub).is_dir():
            found += [(p, dataset) for p in sorted((corpus / sub).iterdir()) if p.is_file()]
    return found


def prefix_view(doc: dict[str, Any]) -> dict[str, Any]:
    view = {k: doc[k] for k in PREFIX_FIELDS if k in doc}
    view["host"] = doc.get("host", {}).get("name")
    view["tags"] = sorted(PREFIX_TAGS.intersection(doc.get("tags", [])))
    view["original"] = doc["event"]["original"]
    view["dataset"] = doc["event"]["dataset"]
    view["exim"] = {k: doc["exim"][k] for k in EXIM_FIELDS if k in doc.get("exim", {})}
    return view


def prefix_only(doc: dict[str, Any]) -> bool:
    """Whether Python's document holds nothing the line catalogue made: the core's must equal it whole."""
    return (
        doc["event"]["action"] == "unrecognized"
        and set(doc) <= {"@timestamp", "tags", "process", "email", "event", "host", "exim", "log"}
        and set(doc.get("exim", {})) <= set(EXIM_FIELDS)
        and set(doc.get("email", {})) <= {"local_id"}
        and set(doc.get("process", {})) <= {"pid"}
    )


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_offsets_ids_and_prefix_fields_equal_the_python_path(tmp_path: Path, zone: str) -> None:
    settings = Settings(state_dir=tmp_path / "state", timezone=zone, server_name="mx1")
    shipper = Shipper(settings, cluster=None)  # type: ignore[arg-type]  # _item never talks to a cluster
    entries = whole = 0
    for path, dataset in logs():
        data = path.read_bytes()
        ctx = {"server": "mx1", "zone": zone, "dataset": dataset, "path": str(path), "index_prefix": "exim"}
        got = native_entries(data, 1 << 20, **ctx)
        want = list(python_items(path, shipper, zone, dataset))
        assert len(got) == len(want), path
        for n, (offset, end, action, body) in zip(got, want, strict=True):
            where = f"{path}@{offset}"
            assert (n.offset, n.end) == (offset, end), where
            assert n.action == action, where
            doc, ndoc = orjson.loads(body), orjson.loads(n.body)
            assert prefix_view(ndoc) == prefix_view(doc), where
            # pid and id of the record: the prefix's (Python's PREFIX_RE groups); the document's may be the
            # body's (`daemon started: pid=…`, `Start queue run: pid=…` replace process.pid, as in Python).
            first = doc["event"]["original"].partition("\n")[0].rstrip("\r")
            m = PREFIX_RE.match(first)
            pid = m.group("pid") if m else None
            assert (n.pid if n.flags & native.FLAG_HAS_PID else None) == (int(pid) if pid else None), where
            assert n.local_id == ((m.group("id") if m else None) or ""), where
            if pid:
                assert ndoc["process"]["pid"] == doc["process"]["pid"], where
            if n.local_id:
                assert ndoc["email"]["local_id"] == n.local_id, where
            if n.flags & native.FLAG_HAS_TIMESTAMP:
                stamp = datetime.fromisoformat(doc["@timestamp"])
                assert n.timestamp_ms == round(stamp.timestamp() * 1000), where
            else:
                assert "@timestamp" not in doc, where
            if prefix_only(doc):
                assert ndoc == doc, where
                whole += 1
            entries += 1
    assert entries > 100
    print(f"{zone}: {entries} entries equal, {whole} of them whole documents")
    assert whole > 0, "some entries are unrecognized in Python too: those documents must be whole"


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


@pytest.mark.parametrize("zone_name", ZONES)
def test_local_times_through_every_transition_convert_as_python_does(zone_name: str) -> None:
    """Lines stamped every 7 minutes of real time through each change (a fall-back's repeated hour
    comes twice, as Exim writes it), and local times inside a spring-forward gap, in order."""
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
    conv = TimestampConverter(zone_name)
    want = []
    for line in lines:
        m = PREFIX_RE.match(line.decode())
        assert m is not None
        want.append((conv.convert(m["date"], m["hm"], m["sec"], m["ms"], m["tz"]), conv.second_pass))
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
def test_any_bytes_give_pythons_entries_and_their_originals_back(data: bytes, chunk: int) -> None:
    """Never raises; entries, offsets and ends are the Python reader's; each document's original (or its
    base64 twin) is the entry's exact bytes."""
    ctx = {"server": "mx", "zone": "Europe/Berlin", "dataset": "exim.main", "path": "p", "index_prefix": "e"}
    got = native_entries(data, chunk, **ctx)
    want = list(iter_entries(io.BytesIO(data)))
    assert [(e.offset, e.end) for e in got] == [(w.offset, w.end) for w in want]
    for e, w in zip(got, want, strict=True):
        assert not e.flags & native.FLAG_PANICKED
        assert bool(e.flags & native.FLAG_TERMINATED) == w.terminated
        assert original_bytes(orjson.loads(e.body)) == w.data
