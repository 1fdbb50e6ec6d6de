"""The ship loop and `parse` on the native core: what reaches the cluster (events, summaries, checkpoints)
and what `parse` writes are the Python path's, as parsed JSON, with the core on, off, or not built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.files import native
from shipper.files.native import NativeEntries, Rendered, native_for
from shipper.pipeline import FileReport, Shipper, _Lane
from shipper.settings import Settings
from tests.fakes.cluster import FakeCluster

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
needs_core = pytest.mark.skipif(native.core is None, reason="shipper._native is not built (make native)")

COMPLETED = "2025-01-31 10:00:{s:02d} 1tXaaa-{n:011d}-0ABC Completed"


def _log(tmp_path: Path) -> Path:
    """Fixture logs back to back, plus twins in one second and lines the core leaves to Python."""
    parts = [(FIXTURES / "fleet_a.log").read_bytes(), (FIXTURES / "dashboards_mx1.log").read_bytes()]
    parts += [p.read_bytes() for p in sorted((FIXTURES / "realworld").glob("*.log"))]
    twins = [COMPLETED.format(s=5, n=1)] * 3 + ["2025-01-31 10:00:05 Start queue run: pid=12"] * 2
    parts.append(("\n".join(twins) + "\n").encode())
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts))
    return log


def _backfill(
    log: Path, state: Path, *, core: bool, monkeypatch: pytest.MonkeyPatch, server_name: str = "mx1"
) -> tuple[Any, ...]:
    """Backfill `log` into an in-memory cluster; (stored documents by index and id, report, registry)."""
    with monkeypatch.context() as m:
        if not core:
            m.setattr(native, "core", None)
        cluster = FakeCluster()
        settings = Settings(
            state_dir=state, server_name=server_name, timezone="Europe/London", batch_max_docs=7
        )
        shipper = Shipper(settings, cluster)  # type: ignore[arg-type]
        try:
            report = shipper.backfill(log)
        finally:
            shipper.close()
            shipper.state_lock.release()
    stored = {index: {i: s.source for i, s in docs.items()} for index, docs in cluster.indices.items()}
    return stored, report, shipper.registry.files


def _same_report(a: FileReport, b: FileReport) -> None:
    assert (a.entries, a.indexed, a.already, a.dead, a.summaries) == (
        b.entries,
        b.indexed,
        b.already,
        b.dead,
        b.summaries,
    )


@needs_core
def test_backfill_through_the_core_stores_what_the_python_path_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path)
    fast, fast_report, fast_registry = _backfill(log, tmp_path / "a", core=True, monkeypatch=monkeypatch)
    slow, slow_report, slow_registry = _backfill(log, tmp_path / "b", core=False, monkeypatch=monkeypatch)
    assert fast == slow
    assert any("-messages-" in index for index in fast), "the summaries are compared too"
    _same_report(fast_report, slow_report)
    assert slow_report.native == 0
    # The core really rendered them (the message lines today; the line catalogue's kinds went to Python).
    assert 0 < fast_report.native <= fast_report.entries
    assert [(f["offset"], f["complete"]) for f in fast_registry.values()] == [
        (f["offset"], f["complete"]) for f in slow_registry.values()
    ]


@needs_core
def test_a_resumed_backfill_through_the_core_adds_what_the_python_path_adds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shipped in two goes, cut inside a second of twins: the second go re-reads that second for the
    twins' ids, sends only what is new, and both paths leave the same cluster and checkpoint."""
    whole = _log(tmp_path).read_bytes()
    twin = COMPLETED.format(s=5, n=1).encode()
    cut = whole.index(twin) + len(twin) + 1  # after the first twin
    results = []
    for core in (True, False):
        log = tmp_path / "go" / "exim_mainlog"  # one path: it is in every document
        log.parent.mkdir(exist_ok=True)
        log.write_bytes(whole[:cut])
        first = _backfill(log, tmp_path / f"{core}-state", core=core, monkeypatch=monkeypatch)
        log.write_bytes(whole)
        second = _backfill(log, tmp_path / f"{core}-state", core=core, monkeypatch=monkeypatch)
        assert second[1].entries == 4  # the other two twins, the two queue runs
        results.append((first, second))
    (f1, f2), (s1, s2) = results
    assert f1[0] == s1[0]
    assert f2[0] == s2[0]
    _same_report(f2[1], s2[1])
    assert f2[1].native > 0
    assert [f["offset"] for f in f2[2].values()] == [f["offset"] for f in s2[2].values()]


@needs_core
def test_a_renamed_file_s_documents_say_its_new_path(tmp_path: Path) -> None:
    """A glob follows a rotated file to its new name: the core's documents are given it as Python's are."""
    make = native_for("mx1", "UTC", "exim", lambda _path: "exim.main")
    assert make is not None
    reader = make("/var/log/exim_mainlog", 0, 0)
    batch = reader.feed((COMPLETED.format(s=1, n=1) + "\n" + COMPLETED.format(s=2, n=2) + "\n").encode())
    batch = native.joined([batch, reader.finish()])
    assert isinstance(batch, Rendered)

    class Moved:
        path, key, resume, followed = "/var/log/exim_mainlog.1", "k", 0, True

    settings = Settings(server_name="mx1", timezone="UTC")
    shipper = Shipper.__new__(Shipper)
    shipper.settings, shipper.server, shipper.zone = settings, "mx1", "UTC"
    lane = _Lane.__new__(_Lane)
    lane.source, lane.parser = Moved(), shipper._parser(Moved.path)  # type: ignore[assignment]
    items = list(shipper._items(lane, batch))
    assert [code for *_, code in items] == [native.ACTIONS.index("message_completed")] * 2
    docs = [orjson.loads(item.body) for item, *_ in items]
    assert [d["log"] for d in docs] == [
        {"file": {"path": "/var/log/exim_mainlog.1"}, "offset": 0},
        {"file": {"path": "/var/log/exim_mainlog.1"}, "offset": len(COMPLETED.format(s=1, n=1)) + 1},
    ]
    assert docs[1]["email"]["local_id"] == "1tXaaa-00000000002-0ABC"


def _parse(args: list[str], *, block_core: bool = False) -> tuple[Any, str]:
    code = "import sys; from shipper.cli import main; sys.exit(main(sys.argv[1:]))"
    if block_core:
        # The extension cannot be imported, as on a machine where it was never built.
        code = "import sys; sys.modules['shipper._native'] = None; " + code
    proc = subprocess.run(
        [sys.executable, "-c", code, "parse", "--timezone", "Europe/London", "--server-name", "mx1", *args],
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    return [orjson.loads(line) for line in proc.stdout.splitlines()], proc.stderr.decode()


@pytest.mark.parametrize("messages", [False, True])
def test_parse_writes_the_same_with_the_core_and_without_it(tmp_path: Path, messages: bool) -> None:
    log = str(_log(tmp_path))
    args = ["--messages", log] if messages else [log]
    fast = _parse(args)
    slow = _parse(args, block_core=True)
    assert fast == slow
    assert len(fast[0]) > (30 if messages else 100)
    assert "unrecognized" in fast[1]


def test_without_the_extension_the_python_path_reads_everything(tmp_path: Path) -> None:
    probe = "import shipper.files.native as n; print(n.core is None, n.native_for('h', 'UTC', 'e', str))"
    code = "import sys; sys.modules['shipper._native'] = None; " + probe
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT, text=True)
    assert out.stdout.split() == ["True", "None"]


@needs_core
def test_python_goes_on_from_the_core_s_time_through_a_repeated_hour(tmp_path: Path) -> None:
    """Europe/London's repeated hour (2025-10-26 01:00-02:00): the core stamps the Completed lines and
    sees the second pass begin; the queue-run lines after them go to Python, which must read them in the
    same pass (and an entry without a prefix must inherit the core's last time)."""
    lines = [
        COMPLETED.replace("2025-01-31 10:00", "2025-10-26 01:30").format(s=0, n=1),  # first pass
        COMPLETED.replace("2025-01-31 10:00", "2025-10-26 01:10").format(s=0, n=2),  # second pass
        "2025-10-26 01:40:00 Start queue run: pid=7",  # Python's: second pass too
        "2025-10-26T01:41:00 not Exim's prefix",  # no prefix: the last time is inherited
    ]
    log = tmp_path / "exim_mainlog"
    log.write_text("\n".join(lines) + "\n")
    fast = _parse([str(log)])[0]
    assert fast == _parse([str(log)], block_core=True)[0]
    assert [d["@timestamp"] for d in fast] == [
        "2025-10-26T00:30:00.000Z",
        "2025-10-26T01:10:00.000Z",
        "2025-10-26T01:40:00.000Z",
        "2025-10-26T01:40:00.000Z",
    ]
    assert fast[3]["tags"] == ["timestamp_inherited"]


@needs_core
def test_the_placeholder_gives_back_the_entry_s_bytes_bad_utf8_and_continuations_too() -> None:
    data = b"2025-01-31 10:00:00 caf\xe9 unknown\n continued line\n2025-01-31 10:00:01 plain text\n"
    reader = NativeEntries(native.Context("mx1", "UTC", "exim.main", "p", "exim"), 0, 0)
    batch = native.joined([reader.feed(data), reader.finish()])
    assert isinstance(batch, Rendered)
    raws = [raw for *_, raw, _stamp in batch]
    assert [(r.offset, r.data, r.end, r.terminated) for r in raws if r is not None] == [
        (0, b"2025-01-31 10:00:00 caf\xe9 unknown\n continued line", 49, True),
        (49, b"2025-01-31 10:00:01 plain text", len(data), True),
    ]


@needs_core
def test_the_golden_run_goes_through_the_core_and_gives_what_the_python_path_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import golden  # tools/ is a folder of scripts

    item = golden.Input("exim_mainlog", _log(tmp_path))
    before = list(golden.RENDERED)
    fast = golden.run_file(item, "UTC")
    rendered = golden.RENDERED[1] - before[1]
    assert rendered > 0
    monkeypatch.setattr(native, "core", None)
    assert golden.run_file(item, "UTC") == fast
    assert golden.RENDERED[1] == before[1] + rendered
