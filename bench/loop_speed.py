"""The ship loop's per-line path up to the bulk body, Python path vs native core, on the generated log.

What is timed is what `backfill` does per line before the request goes: `ArchiveSource` reading the file,
`Shipper._batch` (the core's bulk lines as they are, a run of them per batcher item; the placeholder's
entries through the Python parser), the batcher, the correlator (on the native rows the core's,
`shipper._native.Correlator`, fed from the reader's facts), and per batch the summaries' bulk items
(`_settle`: the native correlator's `create` items, and Python's through `summaries.by_message`,
`create_item`, as `Delivery` makes them); nothing is sent. Rows, best of N runs in one process,
interleaved:

- python: the core not loaded (`shipper.files.native.core = None`), the path the loop takes without it;
- native: the loop as it runs with `shipper._native` built;
- core alone: `Reader.feed` over the same chunks, its bytes out and nothing else (the floor);
- native, all taken as rendered: the placeholder's documents taken as they are, a projection of the
  loop once the line catalogue is ported (its Python side is then what is left per line);
and the Python share of each (1 - core alone / row), then a cProfile of the projection (where the
Python side's time goes: per line, it is the new bottleneck). With `--eximstats`, eximstats on the
16-char-id copy of the same log for the ratios.

    make native && .venv/bin/python bench/loop_speed.py --lines 200000 --runs 3
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import parse_speed  # noqa: E402 - bench/ is a folder of scripts, not a package
from parse_speed import SERVER, TIMEZONE  # noqa: E402

CLOCK = time.perf_counter
"""The rows' clock: wall time, or with `--cpu` the process's CPU time (steadier on a shared machine)."""

# Where tools/eximstats_fixture.sh unpacks Debian's eximstats.
EXIMSTATS = Path.home() / ".cache/exim-shipper/exim4-base/root/usr/sbin/eximstats"


def loop(path: Path, *, core: bool, project: bool = False) -> tuple[float, int, int, int]:
    """One backfill of `path` up to the bulk body: (seconds, entries, natively rendered, summary items).

    `project`: the placeholder's documents are taken as they are, as if the core rendered every entry
    (what the loop costs once the line catalogue is ported; the core's side is then a little cheaper
    than it will be, the Python side is what it will be)."""
    from shipper.batcher import Batcher
    from shipper.files import native
    from shipper.files.archive import dataset_for
    from shipper.files.identity import identify
    from shipper.opensearch import bulk, summaries
    from shipper.pipeline import FileReport, Shipper, _Lane, _settle
    from shipper.settings import Settings
    from shipper.sources import ArchiveSource
    from shipper.status import Status

    saved = (
        native.core,
        native.NativeEntries.entries,
        native.NativeEntries.stretches,
        native.NativeEntries._raw,
    )
    if not core:
        native.core = None
    if project:
        _take_placeholders_as_rendered()
    try:
        settings = Settings(server_name=SERVER, timezone=TIMEZONE)
        sh = Shipper.__new__(Shipper)  # no state directory or cluster: only the per-line methods run
        sh.settings, sh.server, sh.zone, sh.status = settings, SERVER, TIMEZONE, Status()
        make = native.native_for(SERVER, TIMEZONE, settings.index_prefix, dataset_for, correlate=True)
        assert (make is not None) == core, "the native core is not built: make native"
        t0 = CLOCK()
        source = ArchiveSource(path, identify(path), 0, lambda _head, _mtime: None, make)
        lane = _Lane(source, sh._parser(str(path)), settings.max_open_messages)
        batcher = Batcher(settings.batch_max_docs, settings.batch_max_bytes, settings.batch_max_age)
        report = FileReport(str(path))
        made = 0

        def flush(*, final: bool = False) -> None:
            # The loop's flush but the sending: the correlators' summaries (the native one's as items).
            nonlocal made
            _items, parts = batcher.take(0.0)
            items: list[bulk.Item] = []
            _settle({"bench": lane}, parts, items, settings.summary_window, final=final)
            merged = summaries.by_message(parts)
            made += len(items) + len(
                [summaries.create_item(settings.index_prefix, k, p) for k, p in merged.items()]
            )

        while not source.caught_up:
            sh._batch(lane, source.poll(0.0, 0.0), batcher, report, flush)
        flush(final=True)
        seconds = CLOCK() - t0
        source.close()
    finally:
        (
            native.core,
            native.NativeEntries.entries,  # type: ignore[method-assign]
            native.NativeEntries.stretches,  # type: ignore[method-assign]
            native.NativeEntries._raw,  # type: ignore[method-assign]
        ) = saved
    return seconds, report.entries, report.native, made


def _take_placeholders_as_rendered() -> None:
    from shipper.files import native

    whole, stretches = native.NativeEntries.entries, native.NativeEntries.stretches
    native.NativeEntries._raw = lambda *_args: None  # type: ignore[method-assign,assignment,return-value]
    claimed = bytes([255, *range(1, 256)])  # code 0 (the placeholder) as a code of the core's

    def entries(self: native.NativeEntries, batch: native.Rendered) -> Iterator[native.Entry]:
        for code, offset, end, occ, facts, action, body, local_id, _raw, _stamp in whole(self, batch):
            yield code or 255, offset, end, occ, facts, action, body, local_id, None, None

    def runs(self: native.NativeEntries, batch: native.Rendered) -> Iterator[native.Stretch | native.Entry]:
        size = self.record_size
        records = bytearray(batch.records)
        records[size - 1 :: size] = records[size - 1 :: size].translate(claimed)
        return stretches(self, native.Rendered(batch.bulk, bytes(records), batch.facts, self))

    native.NativeEntries.entries = entries  # type: ignore[method-assign]
    native.NativeEntries.stretches = runs  # type: ignore[method-assign]


def core_alone(path: Path) -> float:
    from shipper.files import native
    from shipper.files.follow import READ_CHUNK

    assert native.core is not None
    t0 = CLOCK()
    ctx = {"dataset": "exim.main", "path": str(path), "index_prefix": "exim"}
    r = native.core.Reader(server=SERVER, zone=TIMEZONE, **ctx)
    with path.open("rb") as fh:
        offset = 0
        while chunk := fh.read(READ_CHUNK):
            r.feed(chunk, offset)
            offset += len(chunk)
    r.finish()
    return CLOCK() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python-runs", type=int, default=None, help="runs of the Python row (default: --runs)")
    ap.add_argument("--eximstats", default=str(EXIMSTATS), help="eximstats script ('' to skip)")
    ap.add_argument("--profile", type=int, default=18, help="rows of the native run's profile (0: none)")
    ap.add_argument(
        "--cpu", action="store_true", help="time the rows by the process's CPU time (eximstats stays wall)"
    )
    args = ap.parse_args(argv)
    if args.cpu:
        global CLOCK  # noqa: PLW0603 - one switch for every row's timing
        CLOCK = time.process_time
    path, _ = parse_speed.ensure_log(args.lines, args.seed)
    lines = parse_speed.count_lines(path)
    print(f"log: {path} ({lines:,} lines, {path.stat().st_size / 1e6:.1f} MB), zone {TIMEZONE}")

    # Interleaved, so that a spell of load from elsewhere on the machine does not favour one row.
    nat, py, alone, proj = [], [], [], []
    for n in range(args.runs):
        nat.append(loop(path, core=True))
        alone.append(core_alone(path))
        proj.append(loop(path, core=True, project=True)[0])
        if n < (args.python_runs or args.runs):
            py.append(loop(path, core=False))
    rows = {
        "python loop": min(r[0] for r in py),
        "native loop": min(r[0] for r in nat),
        "core alone (Reader.feed)": min(alone),
        "native, all taken as rendered": min(proj),
    }
    _, entries, rendered, made = nat[0]
    assert py[0][1:] == (entries, 0, made), "the two paths must give the same entries and summaries"
    print(
        f"entries {entries:,}, rendered by the core {rendered:,} ({100 * rendered / entries:.1f}%), "
        f"summary items {made:,}; best of {args.runs}"
    )
    for label, best in rows.items():
        print(f"  {label:28} {lines / best:>10,.0f} lines/s  {best:6.2f} s")
    print(f"  native / python: {rows['python loop'] / rows['native loop']:.2f}x")
    for label in ("native loop", "native, all taken as rendered"):
        share = 1 - rows["core alone (Reader.feed)"] / rows[label]
        print(f"  Python's share of the {label}: {100 * share:.0f}%")

    if args.profile:
        # The projection's: what Python does per line once the core renders every entry.
        prof = cProfile.Profile()
        prof.runcall(loop, path, core=True, project=True)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.profile)
        print("profile of one run of 'all taken as rendered' (cProfile inflates Python's calls), own time:")
        print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))

    exe = args.eximstats
    if exe and Path(exe).exists():
        twin = parse_speed.ensure_short_id_twin(path)
        es = min(parse_speed.run_eximstats(exe, twin)[0] for _ in range(args.runs))
        print(f"eximstats on the 16-char-id copy: {lines / es:,.0f} lines/s  {es:6.2f} s")
        for label in (
            "python loop",
            "native loop",
            "native, all taken as rendered",
            "core alone (Reader.feed)",
        ):
            print(f"  ratio {label} / eximstats: {es / rows[label]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
