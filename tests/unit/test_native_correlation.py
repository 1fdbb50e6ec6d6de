"""The native correlator, the only one: the ship loop's summaries (merged per message, whatever the batch,
window and cap: the order-free merge) and `parse --messages`' documents are the golden records'
(tests/golden/) on the fixtures, the same as each other on crafted lines, ../shared and the bench log,
with the checkpoints the held messages allow."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.batcher import Batcher
from shipper.commands import files
from shipper.files import native
from shipper.files.archive import dataset_for
from shipper.files.identity import identify
from shipper.messages import Partial, merge
from shipper.opensearch import bulk, summaries
from shipper.pipeline import FileReport, Shipper, _Lane, _settle
from shipper.settings import Settings
from shipper.sources import ArchiveSource
from tests.fakes.cluster import FakeCluster

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus" / "exim-testsuite"
BENCH_LOG = ROOT / "bench" / "out" / "mainlog-100000-s1.log"
sys.path.insert(0, str(ROOT / "tools"))

import golden  # noqa: E402 - tools/ is a folder of scripts

HOST, ZONE = golden.HOST, "UTC"  # as the golden records were made
SETTINGS = ((100_000, 500, 10 << 20), (3, 7, 300))
"""(max_open, batch documents, summary window): the defaults' size, and a tiny cap, batch and window."""

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


def _loop(path: Path, *, max_open: int, docs: int, window: int) -> tuple[list[bulk.Item], list[int]]:
    """The loop's summaries' items over every flush, and its checkpoints."""
    s = Settings(server_name=HOST, timezone=ZONE)
    sh = Shipper.__new__(Shipper)  # no state directory or cluster: only the per-line methods run
    sh.settings, sh.server, sh.zone = s, HOST, ZONE
    make = native.native_for(HOST, ZONE, s.index_prefix, dataset_for, correlate=True)
    source = ArchiveSource(path, identify(path), 0, lambda _head, _mtime: None, make)
    lane = _Lane(source, max_open, s.index_prefix)
    batcher = Batcher(docs, 1 << 30, 1e9)
    items: list[bulk.Item] = []
    marks: list[int] = []

    def flush(*, final: bool = False) -> None:
        _items, parts = batcher.take(0.0)
        assert not parts, "the loop makes no Python partials"
        marks.extend(m.end for m in _settle({"k": lane}, items, window, final=final))
        # Nothing is folded ahead of what is batched (an unrecognized line's partial included), or the
        # window would not split a long message as it stands.
        held = lane.native.oldest()
        assert held is None or held < lane.last_end, (held, lane.last_end)

    try:
        while not source.caught_up:
            sh._batch(lane, source.poll(0.0, 0.0), batcher, FileReport(str(path)), flush)
        flush(final=True)
    finally:
        source.close()
    return items, marks


def _merged(items: list[bulk.Item]) -> dict[Any, Any]:
    """The summaries' items merged per message, as the index ends up holding them: `{key: document}`."""
    parts: dict[Any, Partial] = {}
    for item in items:
        part = summaries.partial_of(item.body)
        parts[item.ref] = merge(parts[item.ref], part) if item.ref in parts else part
    return {k: orjson.loads(summaries.create_item("exim", k, p).body) for k, p in parts.items()}


def _loops(path: Path) -> dict[Any, Any]:
    """The loop's summaries over `path` (merged per message), the same with every SETTINGS; checkpoints
    that never go back and end at the file's end."""
    out = []
    for max_open, docs, window in SETTINGS:
        items, marks = _loop(path, max_open=max_open, docs=docs, window=window)
        assert marks == sorted(marks) and marks[-1] == path.stat().st_size, path
        out.append(_merged(items))
    assert all(o == out[0] for o in out), path
    return out[0]


def _parse_messages(paths: list[Path], *, max_open: int) -> list[Any]:
    buf = io.BytesIO()
    stdout = sys.stdout

    class Out:
        buffer = buf

    sys.stdout = Out()  # type: ignore[assignment]
    try:
        args = argparse.Namespace(files=[str(p) for p in paths], messages=True, max_open=max_open)
        files.cmd_parse(args, Settings(server_name=HOST, timezone=ZONE))
    finally:
        sys.stdout = stdout
    return [orjson.loads(line) for line in buf.getvalue().splitlines()]


def _readable(doc: dict[str, Any]) -> dict[str, Any]:
    """A summary as `parse --messages` writes it: the index's document less its merge state."""
    return {**doc, "exim": {k: v for k, v in doc["exim"].items() if k != "merge_state"}}


def _parse_is(path: Path, loop: dict[Any, Any], *, late: int = 0) -> int:
    """`parse --messages` of `path` writes the loop's summaries, one per message, but for at most `late`
    messages a line came for after their summary was written (then one more, partial, for each)."""
    docs = _parse_messages([path], max_open=100_000)
    by_key: dict[Any, list[Any]] = {}
    for d in docs:
        by_key.setdefault((d["host"]["name"], d["email"]["local_id"]), []).append(d)
    assert set(by_key) == set(loop), path
    once = {k: v[0] for k, v in by_key.items() if len(v) == 1}
    assert len(by_key) - len(once) <= late, path
    assert once == {k: _readable(loop[k]) for k in once}, path
    # With a cap of 3, more messages may be written in shares: the messages stay the same.
    assert {(d["host"]["name"], d["email"]["local_id"]) for d in _parse_messages([path], max_open=3)} == set(
        loop
    )
    return len(docs)


def _golden(rel: str) -> dict[Any, Any]:
    label = f"fixtures/{rel}"
    return {
        (r["doc"]["host"]["name"], r["doc"]["email"]["local_id"]): r["doc"]
        for r in golden.read_full(golden.full_path("fixtures"))
        if r["file"] == label and r["kind"] == "summary"
    }


def test_crafted_lines(tmp_path: Path) -> None:
    path = tmp_path / "mainlog"
    path.write_text("\n".join(LINES) + "\n")
    loop = _loops(path)
    assert _parse_is(path, loop) == 3
    states = {local_id: d["exim"]["state"] for (_, local_id), d in loop.items()}
    assert states == {A: "partially_delivered", B: "delivered", C: "removed"}
    assert loop[HOST, B]["exim"]["bounce_of"] == A
    assert loop[HOST, A]["exim"]["bounced_by"] == [B]


def test_an_unrecognized_line_dates_its_message(tmp_path: Path) -> None:
    """An `unrecognized` entry with a message id dates its message (the core's facts, no Python): a
    summary of its own when it is the message's only line, or a wider first and last seen of the message
    around it."""
    d, e = "1tXddd-000004-AB", "1tXeee-000005-AB"
    path = tmp_path / "mainlog"
    path.write_text(
        "2025-01-31 09:59:59 Start queue run: pid=12\n"
        * 20  # batches of 7 before it: folded in its turn
        + f"2025-01-31 10:00:00 {d} some line of a kind nobody knows\n"
        f"2025-01-31 10:00:01 {e} <= a@example.com U=a P=local S=1 for b@example.org\n"
        f"2025-01-31 10:00:02 {e} outgoing_spam_check: score=2.1 sender=a action=accept\n"
        f"2025-01-31 10:00:03 {e} => b@example.org R=r T=t\n"
        f"2025-01-31 10:00:04 {e} Completed\n"
        f"2025-01-31 10:00:05 {e} another unknown line, after Completed\n"
    )
    loop = _loops(path)
    assert set(loop) == {(HOST, d), (HOST, e)}
    assert (loop[HOST, d]["exim"]["first_seen"], loop[HOST, d]["exim"]["last_seen"]) == (
        "2025-01-31T10:00:00.000Z",
        "2025-01-31T10:00:00.000Z",
    )
    assert loop[HOST, e]["exim"]["last_seen"] == "2025-01-31T10:00:05.000Z"
    assert loop[HOST, e]["exim"]["state"] == "delivered"
    _parse_is(path, loop, late=1)  # the line after Completed may come once the summary is written


def test_an_impossible_time_inside_a_message(tmp_path: Path) -> None:
    """An entry stamped at an impossible time (30 February) counts at the time before it, as its document
    does; one with no time before it counts for nothing."""
    f, g = "1tXfff-000006-AB", "1tXggg-000007-AB"
    path = tmp_path / "mainlog"
    path.write_text(
        f"2025-02-30 09:59:59 {g} <= z@example.com U=z P=local S=1 for y@example.org\n"
        f"2025-01-31 10:00:01 {f} <= a@example.com U=a P=local S=1 for b@example.org c@example.org\n"
        f"2025-02-30 10:00:02 {f} => b@example.org R=r T=t\n"
        f"2025-01-31 10:00:03 {f} ** c@example.org R=r T=t: SMTP error from remote mail server after RCPT "
        "TO:<c@example.org>: 550 5.1.1 User unknown\n"
        f"2025-13-01 10:00:04 {f} Completed\n"
    )
    loop = _loops(path)
    assert set(loop) == {(HOST, f)}, "the line without any time dates nothing"
    exim = loop[HOST, f]["exim"]
    assert exim["state"] == "partially_delivered"
    assert (exim["first_seen"], exim["last_seen"]) == ("2025-01-31T10:00:01.000Z", "2025-01-31T10:00:03.000Z")
    assert exim["completed_time"] == "2025-01-31T10:00:03.000Z", "Completed, at the time before it"
    (delivered, _) = exim["recipients"]
    assert delivered["delivered_time"] == "2025-01-31T10:00:01.000Z", "30 February: the arrival's time"
    _parse_is(path, loop)


@pytest.mark.parametrize("rel", [p.relative_to(FIXTURES).as_posix() for p in sorted(FIXTURES.rglob("*.log"))])
def test_fixtures_give_the_golden_summaries(rel: str) -> None:
    loop = _loops(FIXTURES / rel)
    assert loop == _golden(rel)
    if loop:
        _parse_is(FIXTURES / rel, loop)


def test_shared_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} not present (../shared is optional)")
    n = 0
    for log in ("mainlog", "rejectlog", "paniclog"):
        for p in sorted((CORPUS / log).iterdir()):
            loop = _loops(p)
            # The test suite reuses message ids across runs in one file: late lines are common.
            n += _parse_is(p, loop, late=len(loop)) if loop else 0
    assert n > 1000


def test_bench_log() -> None:
    if not BENCH_LOG.exists():
        pytest.skip(f"{BENCH_LOG} not generated (bench/generate_mainlog.py)")
    items, marks = _loop(BENCH_LOG, max_open=100_000, docs=5000, window=1 << 20)
    assert marks == sorted(marks) and marks[-1] == BENCH_LOG.stat().st_size
    loop = _merged(items)
    assert _parse_is(BENCH_LOG, loop, late=len(loop) // 100) > 10_000


def test_delivery_reads_a_native_summary_back_as_its_partial(tmp_path: Path) -> None:
    path = tmp_path / "mainlog"
    path.write_text("\n".join(LINES) + "\n")
    corr = native.correlator(10, "exim")
    reader = native.core().Reader(
        server="mx1", zone=ZONE, dataset="exim.main", path=str(path), index_prefix="exim", correlate=True
    )
    reader.feed(path.read_bytes(), 0)
    reader.finish()
    reader.correlate(corr, 2**64 - 1)
    items = summaries.native_items(*corr.drain())
    assert sorted(i.ref for i in items) == [("mx1", A), ("mx1", B), ("mx1", C)]
    for item in items:
        part = summaries.partial_of(item.body)
        python = summaries.create_item("exim", item.ref, part)
        assert orjson.loads(python.action) == orjson.loads(item.action)
        assert orjson.loads(python.body) == orjson.loads(item.body)


@pytest.mark.parametrize(("docs", "window", "max_open"), [(7, 4 << 20, 100_000), (3, 200, 2)])
@pytest.mark.parametrize("rel", ["fleet_a.log", "dashboards_mx1.log"])
def test_backfill_stores_the_golden_summaries(
    tmp_path: Path, rel: str, docs: int, window: int, max_open: int
) -> None:
    """Into the in-memory cluster: with small batches, windows and caps a message's summary is written
    in several shares, so the native items meet stored summaries (read back, merged, 409s)."""
    cluster = FakeCluster()
    s = Settings(
        state_dir=tmp_path / "state",
        server_name=HOST,
        timezone=ZONE,
        batch_max_docs=docs,
        summary_window=window,
        max_open_messages=max_open,
    )
    shipper = Shipper(s, cluster)  # type: ignore[arg-type]
    try:
        report = shipper.backfill(FIXTURES / rel)
    finally:
        shipper.close()
        shipper.state_lock.release()
    stored = {
        (d.source["host"]["name"], d.source["email"]["local_id"]): d.source
        for index, ds in cluster.indices.items()
        if "-messages-" in index
        for d in ds.values()
    }
    assert stored == _golden(rel)
    assert report.summaries >= len(stored)
