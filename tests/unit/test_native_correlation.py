"""The native correlator equals the Python one: the ship loop's summaries (`create` items, ids and
indices, per batch, and the checkpoints the held messages allow) and `parse --messages`' documents, as
parsed JSON, on crafted lines, the fixtures, ../shared and the bench log; it never crashes on any JSON."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.batcher import Batcher
from shipper.commands import files
from shipper.files import native
from shipper.files.archive import dataset_for
from shipper.files.identity import identify
from shipper.opensearch import bulk, summaries
from shipper.pipeline import Shipper, _Lane, _settle
from shipper.settings import Settings
from shipper.sources import ArchiveSource
from tests.fakes.cluster import FakeCluster

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus" / "exim-testsuite"
BENCH_LOG = Path("/work/main/bench/out/mainlog-100000-s1.log")
ZONE = "Europe/London"
pytestmark = pytest.mark.skipif(native.core is None, reason="shipper._native is not built (make native)")

A, B, C = "1tXaaa-000001-AB", "1tXbbb-000002-AB", "1tXccc-000003-AB"
LINES = [
    f"2025-01-31 10:00:00 {A} <= alice@Example.COM H=mail.example.com [192.0.2.1] P=esmtps "
    'X=TLS1.3:TLS_AES_256_GCM_SHA384:256 S=1234 id=abc@example.com T="Hello" for Bob@Example.net carol@x.org',
    f"2025-01-31 10:00:01 {A} => bob@example.net <Bob@Alias.example> R=dnslookup T=remote_smtp "
    'H=mx.example.net [198.51.100.7] C="250 OK"',
    f"2025-01-31 10:00:01 {A} -> dave@example.net <Bob@Alias.example> R=dnslookup T=remote_smtp "
    'H=mx.example.net [198.51.100.7] C="250 OK"',
    f"2025-01-31 10:00:02 {A} == carol@x.org R=dnslookup T=remote_smtp defer (-44) H=mx.x.org "
    "[203.0.113.9]: SMTP error from remote mail server after RCPT TO:<carol@x.org>: 451 4.7.1 Try later",
    f"2025-01-31 10:00:03 {A} == carol@x.org routing defer (-51): retry time not reached",
    f"2025-01-31 10:00:04 {A} ** carol@x.org R=dnslookup T=remote_smtp H=mx.x.org [203.0.113.9]: "
    "SMTP error from remote mail server after RCPT TO:<carol@x.org>: 550 5.1.1 User unknown",
    f"2025-01-31 10:00:05 {B} <= <> R={A} U=Debian-exim P=local S=2000 for alice@example.com",
    f"2025-01-31 10:00:06 {A} Completed",
    f"2025-01-31 10:00:07 {C} => ünï@example.org R=local_user T=mail_spool",
    f"2025-01-31 10:00:08 {C} Message is frozen by the operator",
    f"2025-01-31 10:00:09 {C} Message is unfrozen by the operator",
    f"2025-01-31 10:00:10 {C} removed by root",
    f"2025-01-31 10:00:10 {C} Completed",
    "2025-01-31 10:00:11 Start queue run: pid=12",
    f"2025-01-31 10:00:12 {B} => alice@example.com R=local_user T=mail_spool",
    "2025-01-31 10:00:13 unrecognised line without an id",
]


_KEYS = [
    "server", "id", "first_seen", "last_seen", "arrival", "rcpt", "attempts", "completed", "frozen",
    "unfrozen", "removed", "cancelled", "rejected", "spam", "first_deferral", "last_deferral",
    "last_error", "bounce_of", "bounced_by", "time", "delivered", "failed", "deferred_first", "via",
    "originals", "first_error", "size", "sender", "flag", "class",
]  # fmt: skip
"""Keys of partials, recipients and records: arbitrary JSON built from them reaches the merge."""


def _loop(path: Path, *, correlate: bool, max_open: int, docs: int, window: int) -> list[Any]:
    """The loop's summaries per flush (sorted canonical JSON of each item) and its checkpoints, with the
    native correlator (`correlate`) or the Python one over the core's facts (`from_facts`)."""
    s = Settings(server_name="mx1", timezone=ZONE)
    sh = Shipper.__new__(Shipper)  # no state directory or cluster: only the per-line methods run
    sh.settings, sh.server, sh.zone = s, "mx1", ZONE
    make = native.native_for("mx1", ZONE, s.index_prefix, dataset_for, correlate=correlate)
    source = ArchiveSource(path, identify(path), 0, lambda _head, _mtime: None, make)
    lane = _Lane(source, sh._parser(str(path)), max_open)
    batcher = Batcher(docs, 1 << 30, 1e9)
    out: list[Any] = []

    def flush(*, final: bool = False) -> None:
        _items, parts = batcher.take(0.0)
        made: list[bulk.Item] = []
        marks = _settle({"k": lane}, parts, made, window, final=final)
        assert not correlate or not parts, "the core's entries give no Python partials"
        items = made + [
            summaries.create_item(s.index_prefix, k, p) for k, p in summaries.by_message(parts).items()
        ]
        canon = sorted(
            orjson.dumps([orjson.loads(i.action), orjson.loads(i.body)], option=orjson.OPT_SORT_KEYS)
            for i in items
        )
        out.append((canon, [m.end for m in marks]))

    try:
        while not source.caught_up:
            for item, parts, offset, end, _code in sh._items(lane, source.poll(0.0, 0.0)):
                batcher.add(item)
                if parts:
                    batcher.parts.extend(lane.correlator.add_partials(parts, offset))
                lane.last_end = end
                if batcher.full:
                    flush()
        flush(final=True)
    finally:
        source.close()
    return out


def _parse_messages(paths: list[Path], *, core: bool, max_open: int) -> list[Any]:
    saved = files.core
    if not core:
        files.core = None
    buf = io.BytesIO()
    stdout = sys.stdout

    class Out:
        buffer = buf

    sys.stdout = Out()  # type: ignore[assignment]
    try:
        args = argparse.Namespace(files=[str(p) for p in paths], messages=True, max_open=max_open)
        files.cmd_parse(args, Settings(server_name="mx1", timezone=ZONE))
    finally:
        sys.stdout = stdout
        files.core = saved
    return [orjson.loads(line) for line in buf.getvalue().splitlines()]


def _loops_equal(path: Path) -> int:
    """Both loops over `path`, with the defaults and with a tiny cap, batch and window; returns the items."""
    n = 0
    for max_open, docs, window in ((100_000, 500, 10 << 20), (3, 7, 300)):
        ours = _loop(path, correlate=True, max_open=max_open, docs=docs, window=window)
        theirs = _loop(path, correlate=False, max_open=max_open, docs=docs, window=window)
        assert ours == theirs, path
        n += sum(len(canon) for canon, _ in ours)
    return n


def _parses_equal(paths: list[Path]) -> int:
    n = 0
    for max_open in (100_000, 3):
        ours = _parse_messages(paths, core=True, max_open=max_open)
        assert ours == _parse_messages(paths, core=False, max_open=max_open)
        n += len(ours)
    return n


def test_crafted_lines(tmp_path: Path) -> None:
    path = tmp_path / "mainlog"
    path.write_text("\n".join(LINES) + "\n")
    assert _loops_equal(path) > 0
    assert _parses_equal([path]) > 0
    docs = _parse_messages([path], core=True, max_open=100)
    states = {d["email"]["local_id"]: d["exim"]["state"] for d in docs}
    assert states == {A: "partially_delivered", B: "delivered", C: "removed"}


def test_fixtures() -> None:
    logs = sorted(p for p in FIXTURES.rglob("*.log"))
    assert logs
    assert sum(_loops_equal(p) for p in logs) > 0
    assert _parses_equal(logs) > 0


def test_shared_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} not present (../shared is optional)")
    for log in ("mainlog", "rejectlog", "paniclog"):
        paths = sorted((CORPUS / log).iterdir())
        for p in paths:
            _loops_equal(p)
        _parses_equal(paths)


def test_bench_log() -> None:
    if not BENCH_LOG.exists():
        pytest.skip(f"{BENCH_LOG} not generated (bench/generate_mainlog.py)")
    ours = _loop(BENCH_LOG, correlate=True, max_open=100_000, docs=5000, window=1 << 20)
    assert ours == _loop(BENCH_LOG, correlate=False, max_open=100_000, docs=5000, window=1 << 20)
    assert _parses_equal([BENCH_LOG]) > 10_000


def test_delivery_reads_a_native_summary_back_as_its_partial(tmp_path: Path) -> None:
    path = tmp_path / "mainlog"
    path.write_text("\n".join(LINES) + "\n")
    corr = native.core.Correlator(max_open=10, index_prefix="exim")  # type: ignore[union-attr]
    reader = native.core.Reader(  # type: ignore[union-attr]
        server="mx1", zone=ZONE, dataset="exim.main", path=str(path), index_prefix="exim", correlate=True
    )
    reader.feed(path.read_bytes(), 0)
    reader.finish()
    reader.correlate(corr, 2**64 - 1)
    items = summaries.native_items(*corr.drain())
    # C's delivery to ü is left to Python (`!`): its other lines are the core's.
    assert sorted(i.ref for i in items) == [("mx1", A), ("mx1", B), ("mx1", C)]
    for item in items:
        part = summaries.partial_of(item.body)
        python = summaries.create_item("exim", item.ref, part)
        assert orjson.loads(python.action) == orjson.loads(item.action)
        assert orjson.loads(python.body) == orjson.loads(item.body)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "T", "2025-01-31T10:00:00.000Z", "=>", A])
    | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), kids, max_size=6),
    max_leaves=20,
)
_PARTIALS = st.lists(
    st.fixed_dictionaries(
        {"server": st.sampled_from(["mx1", "mx2"]), "id": st.sampled_from([A, B, "", "ü"])},
        optional=dict.fromkeys(_KEYS[2:], _JSON),
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), _JSON.map(orjson.dumps), _PARTIALS.map(orjson.dumps)))
def test_any_json_is_taken_or_refused_never_a_crash(data: bytes) -> None:
    corr = native.core.Correlator(max_open=2, index_prefix="exim")  # type: ignore[union-attr]
    for at in range(3):
        try:
            corr.add(data, at)
        except ValueError:
            return
    bulk_lines, keys, count = corr.drain()
    assert len(summaries.native_items(bulk_lines, keys, count)) == count


@pytest.mark.parametrize(("docs", "window", "max_open"), [(7, 4 << 20, 100_000), (3, 200, 2)])
def test_backfill_stores_what_the_python_correlator_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docs: int, window: int, max_open: int
) -> None:
    """Into the in-memory cluster: with small batches, windows and caps a message's summary is written
    in several shares, so the native items meet stored summaries (read back, merged, 409s)."""
    log = tmp_path / "exim_mainlog"
    log.write_bytes(
        b"".join(p.read_bytes() for p in (FIXTURES / "fleet_a.log", FIXTURES / "dashboards_mx1.log"))
        + ("\n".join(LINES) + "\n").encode()
    )

    def backfill(state: Path, *, core: bool) -> tuple[Any, ...]:
        with monkeypatch.context() as m:
            if not core:
                m.setattr(native, "core", None)
            cluster = FakeCluster()
            s = Settings(
                state_dir=state,
                server_name="mx1",
                timezone=ZONE,
                batch_max_docs=docs,
                summary_window=window,
                max_open_messages=max_open,
            )
            shipper = Shipper(s, cluster)  # type: ignore[arg-type]
            try:
                report = shipper.backfill(log)
            finally:
                shipper.close()
                shipper.state_lock.release()
        stored = {index: {i: d.source for i, d in ds.items()} for index, ds in cluster.indices.items()}
        return stored, report.summaries, report.native

    ours, summaries_ours, rendered = backfill(tmp_path / "a", core=True)
    theirs, summaries_theirs, _ = backfill(tmp_path / "b", core=False)
    assert rendered > 0
    assert any("-messages-" in index for index in ours)
    assert ours == theirs
    assert summaries_ours == summaries_theirs
