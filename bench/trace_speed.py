"""`exim-shipper trace` against exigrep on a generated 100k-line log: a message id and an address.

Both run as a user runs them (a fresh process, output to /dev/null), best of --runs. exigrep is Debian's
(exim4-base, fetched by tools/exim4_base.py into the cache). exigrep 4.96 knows only 16-char message ids:
on 23-char ids it finds no id, keeps nothing per message and prints only the matching lines, a plain grep.
So both tools also run on a copy of the log with the ids shortened (bench/parse_speed.py's twin), where
exigrep does its real work; that ratio is the fair one.
"""

from __future__ import annotations

import argparse
import re
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


def timed(cmd: list[str], runs: int) -> tuple[float, int]:
    """Best wall-clock seconds of `runs` runs, and the lines printed."""
    best = float("inf")
    lines = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, check=False)
        best = min(best, time.perf_counter() - t0)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}: {done.stderr.decode()[-300:]}")
        lines = done.stdout.count(b"\n")
    return best, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000, help="lines in the generated log (default 100000)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    args = ap.parse_args(argv)
    try:
        exigrep = exim4_base.script("exigrep")
    except exim4_base.FetchFailed as exc:
        print(f"exigrep: unavailable ({exc}); nothing to compare")
        return 1
    path, _ = ensure_log(args.lines, args.seed)
    twin = ensure_short_id_twin(path)
    msgid, address = pick(path)
    short = NEW_ID.sub(rb"\1-\2-\3", msgid.encode()).decode()
    print(f"log:     {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.1f} MB), and its 16-char-id copy")
    print(f"exigrep: perl {exigrep} -l NEEDLE FILE   ours: {sys.executable} -m shipper trace NEEDLE FILE")
    print(f"best of {args.runs} runs, wall clock, process start included; output discarded")
    print()
    head = f"{'needle':44} {'file':14} {'exigrep s':>9} {'ours s':>8} {'ours/exigrep':>12}"
    print(f"{head}  lines (exigrep/ours)")
    needles = (("id " + msgid, msgid, short), ("address " + address, address, address))
    for label, needle, twin_needle in needles:
        for name, log, n in (("same file", path, needle), ("16-char ids", twin, twin_needle)):
            theirs, their_lines = timed(["perl", str(exigrep), "-l", n, str(log)], args.runs)
            ours, our_lines = timed(
                [sys.executable, "-m", "shipper", "trace", n, str(log), "--timezone", "UTC"], args.runs
            )
            row = f"{label:44} {name:14} {theirs:9.2f} {ours:8.2f} {ours / theirs:11.2f}x"
            print(f"{row}  {their_lines}/{our_lines}")
    # What each costs before reading a byte: the interpreter and its imports, timed on an empty file.
    empty = path.with_name("empty.log")
    empty.write_bytes(b"")
    try:
        theirs, _ = timed(["perl", str(exigrep), "-l", msgid, str(empty)], args.runs)
        ours, _ = timed([sys.executable, "-m", "shipper", "trace", msgid, str(empty)], args.runs)
    finally:
        empty.unlink()
    print(f"{'start-up alone (an empty file)':44} {'':14} {theirs:9.2f} {ours:8.2f} {ours / theirs:11.2f}x")
    print()
    print("ours/exigrep below 1 means the trace is faster than exigrep.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
