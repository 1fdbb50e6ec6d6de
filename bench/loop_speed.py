"""The ship loop's per-line path up to the bulk body, against the native core alone, on the generated log.

What is timed is what `backfill` does per line before the request goes: `ArchiveSource` reading the file
through the core, `Shipper._batch` (the core's bulk lines as they are, a run of them per batcher item), the
batcher, the core's correlator (`shipper._native.Correlator`, fed from the reader's partials), and per batch
the summaries' bulk items (`_settle`, as `Delivery` gets them); nothing is sent. Rows, best of N runs in one
process, interleaved:

- native loop: the loop as backfill runs it;
- core alone: `Reader.feed` over the same chunks, its bytes out and nothing else (the floor);
and the Python share of the loop (1 - core alone / loop), then a cProfile of the loop (where the Python
side's time goes: whatever it does per line is the bottleneck). With `--eximstats`, eximstats on the
16-char-id copy of the same log for the ratios.

    make install && .venv/bin/python bench/loop_speed.py --lines 200000 --runs 3
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
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


def loop(path: Path) -> tuple[float, int, int]:
    """One backfill of `path` up to the bulk body: (seconds, entries, summary items)."""
    from shipper.batcher import Batcher
    from shipper.files import native
    from shipper.files.archive import dataset_for
    from shipper.files.identity import identify
    from shipper.opensearch import bulk
    from shipper.pipeline import FileReport, Shipper, _Lane, _settle
    from shipper.settings import Settings
    from shipper.sources import ArchiveSource
    from shipper.status import Status

    settings = Settings(server_name=SERVER, timezone=TIMEZONE)
    sh = Shipper.__new__(Shipper)  # no state directory or cluster: only the per-line methods run
    sh.settings, sh.server, sh.zone, sh.status = settings, SERVER, TIMEZONE, Status()
    make = native.native_for(SERVER, TIMEZONE, settings.index_prefix, dataset_for, correlate=True)
    t0 = CLOCK()
    source = ArchiveSource(path, identify(path), 0, lambda _head, _mtime: None, make)
    lane = _Lane(source, settings.max_open_messages, settings.index_prefix)
    batcher = Batcher(settings.batch_max_docs, settings.batch_max_bytes, settings.batch_max_age)
    report = FileReport(str(path))
    made = 0

    def flush(*, final: bool = False) -> None:
        # The loop's flush but the sending: the correlator's summaries as items.
        nonlocal made
        batcher.take(0.0)
        items: list[bulk.Item] = []
        _settle({"bench": lane}, items, settings.summary_window, final=final)
        made += len(items)

    while not source.caught_up:
        sh._batch(lane, source.poll(0.0, 0.0), batcher, report, flush)
    flush(final=True)
    seconds = CLOCK() - t0
    source.close()
    return seconds, report.entries, made


def core_alone(path: Path) -> float:
    from shipper.files import native
    from shipper.files.follow import READ_CHUNK

    t0 = CLOCK()
    ctx = {"dataset": "exim.main", "path": str(path), "index_prefix": "exim"}
    r = native.core().Reader(server=SERVER, zone=TIMEZONE, **ctx)
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
    nat, alone = [], []
    for _ in range(args.runs):
        nat.append(loop(path))
        alone.append(core_alone(path))
    rows = {"native loop": min(r[0] for r in nat), "core alone (Reader.feed)": min(alone)}
    _, entries, made = nat[0]
    print(f"entries {entries:,}, summary items {made:,}; best of {args.runs}")
    for label, best in rows.items():
        print(f"  {label:28} {lines / best:>10,.0f} lines/s  {best:6.2f} s")
    share = 1 - rows["core alone (Reader.feed)"] / rows["native loop"]
    print(f"  Python's share of the native loop: {100 * share:.0f}%")

    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(loop, path)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.profile)
        print("profile of one run of the native loop (cProfile inflates Python's calls), own time:")
        print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))

    exe = args.eximstats
    if exe and Path(exe).exists():
        twin = parse_speed.ensure_short_id_twin(path)
        es = min(parse_speed.run_eximstats(exe, twin)[0] for _ in range(args.runs))
        print(f"eximstats on the 16-char-id copy: {lines / es:,.0f} lines/s  {es:6.2f} s")
        for label, best in rows.items():
            print(f"  ratio {label} / eximstats: {es / best:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
