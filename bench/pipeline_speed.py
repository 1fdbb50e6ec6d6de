"""Benchmark of the whole pure pipeline: parse + enrich (+ correlate) + serialise, with peak RSS."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import parse_speed  # noqa: E402 - bench/ is a folder of scripts, not a package


def _run(path: str, correlate: bool, max_open: int) -> tuple[float, int, int, float]:
    """One pass in a fresh process: (seconds, entries, summaries, peak RSS MiB of that process)."""
    import orjson

    from shipper.exim.enrich import enrich
    from shipper.exim.parse import EntryParser
    from shipper.files.archive import open_log
    from shipper.files.reader import iter_entries
    from shipper.messages import Correlator, summary

    parser = EntryParser("Europe/London", "bench")
    correlator = Correlator(max_open=max_open) if correlate else None
    entries = summaries = 0
    t0 = time.perf_counter()
    with open_log(path) as fh:
        for entry in iter_entries(fh):
            doc = enrich(parser.parse(entry.data))
            orjson.dumps(doc)
            entries += 1
            if correlator is not None:
                for part in correlator.add(doc):
                    orjson.dumps(summary(part))
                    summaries += 1
    if correlator is not None:
        for part in correlator.drain():
            orjson.dumps(summary(part))
            summaries += 1
    seconds = time.perf_counter() - t0
    return seconds, entries, summaries, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-open", type=int, default=100_000, help="correlator cap on open messages")
    args = ap.parse_args(argv)
    path, _ = parse_speed.ensure_log(args.lines, args.seed)
    lines = parse_speed.count_lines(path)
    print(f"log: {path} ({lines:,} lines); best of {args.runs} runs, each in a fresh process")
    ctx = mp.get_context("spawn")  # a fresh interpreter per run: its peak RSS is the pipeline's own
    rows = {}
    for label, correlate in (
        ("parse + enrich + serialise", False),
        ("parse + enrich + correlate + serialise", True),
    ):
        results = []
        for _ in range(args.runs):
            with ctx.Pool(1) as pool:
                results.append(pool.apply(_run, (str(path), correlate, args.max_open)))
        best = min(r[0] for r in results)
        rss = max(r[3] for r in results)
        rows[label] = best
        extra = f", {results[0][2]:,} message summaries" if correlate else ""
        speed = f"{lines / best:>10,.0f} lines/s  best {best:6.2f} s"
        print(f"{label:42} {speed}  peak RSS {rss:6.1f} MiB{extra}")
    exe = parse_speed.find_eximstats(0)
    if exe is None:
        print("eximstats: not on PATH, ratio skipped")
        return 0
    twin = parse_speed.ensure_short_id_twin(path)
    es = min(parse_speed.run_eximstats(exe, twin)[0] for _ in range(args.runs))
    print(f"eximstats on the 16-char-id copy (the fair comparison): {lines / es:,.0f} lines/s")
    for label, best in rows.items():
        print(f"  ratio ours / eximstats, {label}, 1 process: {es / best:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
