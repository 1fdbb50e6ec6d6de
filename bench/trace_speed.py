"""`exim-shipper trace` against exigrep on generated 100k- and 1M-line logs: a message id and an address.

Both run as a user runs them (a fresh process, output discarded), best of --runs. exigrep is Debian's
(exim4-base, fetched by tools/exim4_base.py into the cache). exigrep 4.96 knows only 16-char message ids:
on 23-char ids it finds no id, keeps nothing per message and prints only the matching lines, a plain grep.
So both tools also run on a copy of the log with the ids shortened (bench/parse_speed.py's twin), where
exigrep does its real work; that ratio is the fair one. Each row gives wall-clock seconds and CPU seconds
(the child's user + system time, best of --runs too): on a machine shared with other work the wall clock
waits for the CPU, so the CPU ratio is the steadier one.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(BENCH))

import exim4_base  # noqa: E402 - tools/ is a folder of scripts
from parse_speed import NEW_ID, ensure_log, ensure_short_id_twin  # noqa: E402

ARRIVAL = re.compile(rb"^\S+ \S+(?: [+-]\d{4})?(?: \[\d+\])? (\S+) <= \S+ .* for (\S+)", re.MULTILINE)


def pick(path: Path) -> tuple[str, str]:
    """A message id from the middle of the log, and the recipient address seen in a few dozen arrivals."""
    data = path.read_bytes()
    middle = ARRIVAL.search(data, len(data) // 2)
    if middle is None:
        raise SystemExit(f"{path}: no arrival after the middle")
    counts = Counter(m.group(2).lower() for m in ARRIVAL.finditer(data))
    # A moderately common address: the one closest to 30 arrivals (a user's mailbox, not a bulk sender).
    address = min(counts, key=lambda a: (abs(counts[a] - 30), a))
    return middle.group(1).decode(), address.decode()


def timed(cmd: list[str], runs: int) -> tuple[float, float, int]:
    """Best wall-clock seconds and best CPU seconds (user + system) of `runs` runs, and the lines printed."""
    best = cpu = float("inf")
    lines = 0
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, check=False)
        best = min(best, time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.decode()[-300:]}")
        lines = done.stdout.count(b"\n")
    return best, cpu, lines


Ratios = tuple[str, float, float, float, float]
"""(needle kind, ours/exigrep on the log and on its 16-char-id copy by wall clock, the same by CPU time)"""


def compare(exigrep: Path, path: Path, runs: int) -> list[Ratios]:
    """Print the table for one log; by needle, ours/exigrep on the log and on its 16-char-id copy."""
    twin = ensure_short_id_twin(path)
    msgid, address = pick(path)
    short = NEW_ID.sub(rb"\1-\2-\3", msgid.encode()).decode()
    print(f"log:     {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB), and its 16-char-id copy")
    head = f"{'needle':44} {'file':12} {'exigrep s':>9} {'ours s':>7} {'ratio':>6}"
    print(f"{head} {'exigrep cpu':>11} {'ours cpu':>8} {'ratio':>6}  lines (exigrep/ours)")
    ratios: list[Ratios] = []
    needles = (("id " + msgid, msgid, short), ("address " + address, address, address))
    for label, needle, twin_needle in needles:
        pair: list[float] = []
        for name, log, n in (("same file", path, needle), ("16-char ids", twin, twin_needle)):
            theirs, their_cpu, their_lines = timed(["perl", str(exigrep), "-l", n, str(log)], runs)
            ours, our_cpu, our_lines = timed(
                [sys.executable, "-m", "shipper", "trace", n, str(log), "--timezone", "UTC"], runs
            )
            row = f"{label:44} {name:12} {theirs:9.2f} {ours:7.2f} {ours / theirs:5.2f}x"
            row += f" {their_cpu:11.2f} {our_cpu:8.2f} {our_cpu / their_cpu:5.2f}x"
            print(f"{row}  {their_lines}/{our_lines}")
            pair += [ours / theirs, our_cpu / their_cpu]
        ratios.append((label.split()[0], pair[0], pair[2], pair[1], pair[3]))
    print()
    return ratios


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--lines",
        type=int,
        action="append",
        help="lines in a generated log; repeat for several (default: 100000 and 1000000)",
    )
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    args = ap.parse_args(argv)
    try:
        exigrep = exim4_base.script("exigrep")
    except exim4_base.FetchFailed as exc:
        print(f"exigrep: unavailable ({exc}); nothing to compare")
        return 1
    print(f"exigrep: perl {exigrep} -l NEEDLE FILE")
    print(f"ours:    {sys.executable} -m shipper trace NEEDLE FILE --timezone UTC")
    print(f"best of {args.runs} runs, wall clock, process start included; output discarded")
    print()
    env = {k for k in os.environ if k.upper().startswith("EXIM_SHIPPER_")}
    if env:
        # They send `trace` through the settings machinery (shipper.quick_start): not the quick start.
        print(f"note: {', '.join(sorted(env))} set: ours runs with the settings machinery")
        print()
    ratios: list[tuple[int, Ratios]] = []
    for lines in args.lines or [100_000, 1_000_000]:
        path, _ = ensure_log(lines, args.seed)
        ratios += [(lines, row) for row in compare(exigrep, path, args.runs)]
    # What each costs before reading a byte: the interpreter and its imports, timed on an empty file.
    empty = BENCH / "out" / "empty.log"
    empty.write_bytes(b"")
    try:
        theirs, their_cpu, _ = timed(
            ["perl", str(exigrep), "-l", "1tXaaa-00000001abc-0ABC", str(empty)], args.runs
        )
        ours, our_cpu, _ = timed(
            [sys.executable, "-m", "shipper", "trace", "1tXaaa-00000001abc-0ABC", str(empty)], args.runs
        )
    finally:
        empty.unlink()
    print(
        f"start-up alone (an empty file): exigrep {theirs:.3f} s, ours {ours:.3f} s ({ours / theirs:.2f}x);"
        f" CPU exigrep {their_cpu:.3f} s, ours {our_cpu:.3f} s ({our_cpu / their_cpu:.2f}x)"
    )
    print()
    print("ours/exigrep, below 1 when the trace is faster (16-char ids: where exigrep does its real work)")
    wall, cpu = "wall: same file", "cpu: same file"
    print(f"  {'log':>15}  {'needle':8} {wall:>15} {'16-char ids':>12} {cpu:>15} {'16-char ids':>12}")
    for lines, (needle, same, short_ids, same_cpu, short_cpu) in ratios:
        row = f"  {lines:>9} lines  {needle:8} {same:14.2f}x {short_ids:11.2f}x"
        print(f"{row} {same_cpu:14.2f}x {short_cpu:11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
