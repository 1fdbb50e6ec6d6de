"""The ship loop and `parse` on the native core, which is required: what reaches the cluster (events,
summaries, checkpoints) and what `parse` writes are the recorded golden output (tests/golden/), as parsed
JSON, whatever the batching; without the module, or with a stale one, a command says so in one line."""

from __future__ import annotations

import copy
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.batcher import Batcher
from shipper.errors import NativeMissing
from shipper.files import native
from shipper.files.native import native_for
from shipper.pipeline import FileReport, Shipper, _Lane
from shipper.settings import Settings
from tests.fakes.cluster import FakeCluster

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT / "tools"))

import golden  # noqa: E402 - tools/ is a folder of scripts

COMPLETED = "2025-01-31 10:00:{s:02d} 1tXaaa-{n:011d}-0ABC Completed"
# Fixture logs of Exim's own format whose golden records (tests/golden/fixtures.ndjson.gz) the loop must
# reproduce: connections, deliveries, deferrals, bounces, rejects, a reject log, unrecognized lines.
CHECKED = ["fleet_a.log", "dashboards_mx1.log", "eximstats/extra.log", "realworld/filebeat-exim4-reject.log"]


def _expected(rel: str) -> dict[tuple[str, str], Any]:
    """The golden records of fixture `rel`: `{(index, id): document}`, events and summaries."""
    label = f"fixtures/{rel}"
    records = [r for r in golden.read_full(golden.full_path("fixtures")) if r["file"] == label]
    assert records, label
    return {(r["action"]["create"]["_index"], r["action"]["create"]["_id"]): r["doc"] for r in records}


def _backfill(
    log: Path, state: Path, cluster: FakeCluster | None = None, **settings: Any
) -> tuple[dict[tuple[str, str], Any], FileReport, Any]:
    """Backfill `log` into an in-memory cluster (`cluster`, else a new one) as golden.py's host in UTC:
    `{(index, id): document}` stored (events' `log.file.path` as golden.py labels it), the report, the
    registry's files."""
    cluster = FakeCluster() if cluster is None else cluster
    s = Settings(state_dir=state, server_name=golden.HOST, timezone="UTC", **settings)
    shipper = Shipper(s, cluster)  # type: ignore[arg-type]
    try:
        report = shipper.backfill(log)
    finally:
        shipper.close()
        shipper.state_lock.release()
    stored = {}
    label = "fixtures/" + log.relative_to(FIXTURES).as_posix() if log.is_relative_to(FIXTURES) else log.name
    for index, docs in cluster.indices.items():
        for doc_id, doc in docs.items():
            source = copy.deepcopy(doc.source)
            if "file" in source.get("log", {}):
                source["log"]["file"]["path"] = label
            stored[index, doc_id] = source
    return stored, report, shipper.registry.files


@pytest.mark.parametrize("rel", CHECKED)
@pytest.mark.parametrize("batch", [7, 5000])
def test_backfill_stores_the_golden_events_and_summaries(tmp_path: Path, rel: str, batch: int) -> None:
    """In batches of 7 a message's summary is written in shares merged in the cluster: the same end."""
    stored, report, registry = _backfill(FIXTURES / rel, tmp_path / "state", batch_max_docs=batch)
    want = _expected(rel)
    assert stored == want
    events = sum(1 for index, _ in want if "-messages-" not in index)
    assert report.entries == report.native == report.indexed == events
    assert [f["complete"] for f in registry.values()] == [False]  # a `.log` may still grow
    assert [f["offset"] for f in registry.values()] == [(FIXTURES / rel).stat().st_size]


def test_a_resumed_backfill_adds_only_what_is_new(tmp_path: Path) -> None:
    """Shipped in two goes, cut inside a second of twins: the second go re-reads that second for the
    twins' ids and sends only what is new; the cluster ends as one go leaves it."""
    whole = (FIXTURES / "fleet_a.log").read_bytes()
    twins = [COMPLETED.format(s=5, n=1)] * 3 + ["2025-01-31 10:00:05 Start queue run: pid=12"] * 2
    whole += ("\n".join(twins) + "\n").encode()
    twin = twins[0].encode()
    cut = whole.index(twin) + len(twin) + 1  # after the first twin
    log = tmp_path / "go" / "exim_mainlog"  # one path: it is in every document
    log.parent.mkdir()
    log.write_bytes(whole)
    once, once_report, _ = _backfill(log, tmp_path / "once")
    log.write_bytes(whole[:cut])
    cluster = FakeCluster()
    first = _backfill(log, tmp_path / "twice", cluster)[1]
    log.write_bytes(whole)
    twice, second, registry = _backfill(log, tmp_path / "twice", cluster)
    assert second.entries == 4  # the other two twins, the two queue runs
    assert twice == once
    assert first.entries + second.entries == once_report.entries
    assert [f["offset"] for f in registry.values()] == [len(whole)]


def test_a_renamed_file_s_documents_say_its_new_path(tmp_path: Path) -> None:
    """A glob follows a rotated file to its new name: the core's documents are given it."""
    make = native_for("mx1", "UTC", "exim", lambda _path: "exim.main")
    reader = make("/var/log/exim_mainlog", 0, 0)
    batch = reader.feed((COMPLETED.format(s=1, n=1) + "\n" + COMPLETED.format(s=2, n=2) + "\n").encode())
    batch = native.joined([batch, reader.finish()], reader)

    class Moved:
        path, key, resume, followed = "/var/log/exim_mainlog.1", "k", 0, False

    shipper = Shipper.__new__(Shipper)
    shipper.settings = Settings(server_name="mx1", timezone="UTC")
    lane = _Lane(Moved(), 10, "exim")  # type: ignore[arg-type]
    batcher = Batcher(100, 1 << 20, 1.0)
    shipper._batch(lane, batch, batcher, FileReport("p"), lambda: None)
    docs = [orjson.loads(item.body) for item in batcher.items]  # type: ignore[union-attr]
    assert [d["event"]["action"] for d in docs] == ["message_completed"] * 2
    assert [d["log"] for d in docs] == [
        {"file": {"path": "/var/log/exim_mainlog.1"}, "offset": 0},
        {"file": {"path": "/var/log/exim_mainlog.1"}, "offset": len(COMPLETED.format(s=1, n=1)) + 1},
    ]
    assert docs[1]["email"]["local_id"] == "1tXaaa-00000000002-0ABC"
    assert lane.last_end == batch.end


def _parse(args: list[str], *, block_core: bool = False, check: bool = True) -> tuple[Any, str, int]:
    code = "import sys; from shipper.cli import main; sys.exit(main(sys.argv[1:]))"
    if block_core:
        # The extension cannot be imported, as on a machine where it was never built.
        code = "import sys; sys.modules['shipper._native'] = None; " + code
    proc = subprocess.run(
        [sys.executable, "-c", code, "parse", "--timezone", "UTC", "--server-name", golden.HOST, *args],
        capture_output=True,
        check=check,
        cwd=ROOT,
    )
    return [orjson.loads(line) for line in proc.stdout.splitlines()], proc.stderr.decode(), proc.returncode


def _canonical(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


@pytest.mark.parametrize("rel", CHECKED)
def test_parse_writes_the_golden_events_and_summaries(rel: str) -> None:
    want = _expected(rel)
    events, stderr, _ = _parse([str(FIXTURES / rel)])
    for doc in events:
        doc["log"]["file"]["path"] = f"fixtures/{rel}"
    assert sorted(map(_canonical, events)) == sorted(
        _canonical(d) for (index, _), d in want.items() if "-messages-" not in index
    )
    assert f"entries: {len(events)}" in stderr
    # `parse --messages` writes the readable summary: the index's document less its merge state.
    summaries, _, _ = _parse(["--messages", str(FIXTURES / rel)])
    stored = [d for (index, _), d in want.items() if "-messages-" in index]
    for d in stored:
        del d["exim"]["merge_state"]
    assert stored
    assert sorted(map(_canonical, summaries)) == sorted(map(_canonical, stored))


def test_without_the_extension_a_command_says_so_in_one_line() -> None:
    out, stderr, rc = _parse([str(FIXTURES / "fleet_a.log")], block_core=True, check=False)
    assert (out, rc) == ([], 1)
    assert stderr.startswith("exim-shipper: the native core (shipper._native) is not installed")
    assert "make install" in stderr
    assert len(stderr.splitlines()) == 1, "one line, no traceback"


def test_a_stale_extension_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module built from other sources (its records laid out otherwise) would be read wrongly."""
    real = native.core()
    stale = types.ModuleType("shipper._native")
    for name in ("Reader", "Correlator", "Summaries", "ACTIONS", "RECORD_SIZE"):
        setattr(stale, name, getattr(real, name))
    stale.RECORD_FORMAT = "<QQIIIIqQ15sB"  # type: ignore[attr-defined]
    stale.__file__ = "/stale/_native.abi3.so"
    monkeypatch.setitem(sys.modules, "shipper._native", stale)
    monkeypatch.setattr(sys.modules["shipper"], "_native", stale)
    with pytest.raises(NativeMissing, match="stale"):
        native._load()
    stale.RECORD_FORMAT = real.RECORD_FORMAT  # type: ignore[attr-defined]
    stale.ACTIONS = [*real.ACTIONS, "an_action_the_package_does_not_know"]  # type: ignore[attr-defined]
    with pytest.raises(NativeMissing, match="stale"):
        native._load()
    stale.ACTIONS = real.ACTIONS  # type: ignore[attr-defined]
    assert native._load() is stale


def test_the_core_s_time_through_a_repeated_hour(tmp_path: Path) -> None:
    """Europe/London's repeated hour (2025-10-26 01:00-02:00): the second pass is seen where it begins,
    unrecognized lines in it are read in the same pass, and an entry without a prefix inherits the last
    time."""
    lines = [
        COMPLETED.replace("2025-01-31 10:00", "2025-10-26 01:30").format(s=0, n=1),  # first pass
        COMPLETED.replace("2025-01-31 10:00", "2025-10-26 01:10").format(s=0, n=2),  # second pass
        "2025-10-26 01:40:00 Start queue run: pid=7",  # second pass too
        "2025-10-26T01:41:00 not Exim's prefix",  # no prefix: the last time is inherited
    ]
    log = tmp_path / "exim_mainlog"
    log.write_text("\n".join(lines) + "\n")
    docs = _parse(["--timezone", "Europe/London", str(log)])[0]
    assert [d["@timestamp"] for d in docs] == [
        "2025-10-26T00:30:00.000Z",
        "2025-10-26T01:10:00.000Z",
        "2025-10-26T01:40:00.000Z",
        "2025-10-26T01:40:00.000Z",
    ]
    assert docs[3]["tags"] == ["timestamp_inherited"]
