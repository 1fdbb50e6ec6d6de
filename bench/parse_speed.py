"""Parser throughput benchmark run by `make bench`: our parser, 1 and 2 processes, against eximstats."""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TypeVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
TIMEZONE = "Europe/London"
SERVER = "bench"
# eximstats' cheapest report: no relay table (-nr), no top-N lists (-t0), no histograms (-h0) and no
# queue-time table (-q0). It still reads and matches every line, so this is the floor of its cost.
EXIMSTATS_FLAGS = ("-nr", "-t0", "-h0", "-q0")
EXIMSTATS_NOTE = """\
  note: eximstats up to Exim 4.96 (version 1.61 here) reads the message id and the flag at fixed
  columns made for 16-char ids; on a 23-char-id line it misreads the flag and skips the line, so
  on the same file it does less work than a parser that reads every line. The 16-char-id copy has
  the same lines with shortened ids, which it parses in full: that ratio is the fair one."""
_LAUNCHER = """\
import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"{time.perf_counter() - t0} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}\\n")
"""
_PREFIX = re.compile(
    r"^\S+ \S+(?: [+-]\d{4})?(?: \[\d+\])?(?: [0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4})? "
)
ENTRY_START = re.compile(rb"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
# 23-char id (6-11-4) -> 16-char id (6-6-2): keeps the time part, the low pid digits and the sub-second
# digits, so the ids stay distinct and sortable.
NEW_ID = re.compile(rb"\b([0-9A-Za-z]{6})-[0-9A-Za-z]{5}([0-9A-Za-z]{6})-([0-9A-Za-z]{2})[0-9A-Za-z]{2}\b")


R = TypeVar("R")


class Counts(NamedTuple):
    entries: int
    json_bytes: int


@dataclass(slots=True)
class Timed:
    best: float
    runs: list[float]


def _ensure_importable() -> None:
    # `python bench/parse_speed.py` puts bench/ on sys.path, not the project; make `shipper`
    # importable without an installed package (make bench uses the editable install anyway).
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def best_of(runs: int, fn: Callable[[], R]) -> tuple[Timed, R]:
    times: list[float] = []
    for _ in range(runs - 1):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - t0)
    return Timed(min(times), times), result


def ensure_log(lines: int, seed: int) -> tuple[Path, bool]:
    """The generated log for (lines, seed), created on first use; True when it was generated now."""
    path = OUT / f"mainlog-{lines}-s{seed}.log"
    if path.exists():
        return path, False
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # A separate process, so the generator's memory does not count in this process's peak RSS.
    cmd = [
        sys.executable,
        str(BENCH / "generate_mainlog.py"),
        str(tmp),
        "--lines",
        str(lines),
        "--seed",
        str(seed),
    ]
    subprocess.run(cmd, check=True)
    tmp.replace(path)
    return path, True


def ensure_short_id_twin(path: Path) -> Path:
    """A copy of the log with every 23-char id shortened to the 16-char form eximstats 1.61 expects."""
    twin = path.with_name(path.stem + "-id16.log")
    if not twin.exists():
        tmp = twin.with_suffix(".tmp")
        tmp.write_bytes(NEW_ID.sub(rb"\1-\2-\3", path.read_bytes()))
        tmp.replace(twin)
    return twin


def count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
    return n


def parse_only(path: Path) -> int:
    from shipper.exim.parse import EntryParser
    from shipper.files.archive import open_log
    from shipper.files.reader import iter_entries

    parse = EntryParser(timezone=TIMEZONE, server_name=SERVER).parse
    n = 0
    with open_log(path) as f:
        for entry in iter_entries(f):
            parse(entry.data)
            n += 1
    return n


def parse_dump(path: Path) -> Counts:
    import orjson

    from shipper.exim.parse import EntryParser
    from shipper.files.archive import open_log
    from shipper.files.reader import iter_entries

    parse = EntryParser(timezone=TIMEZONE, server_name=SERVER).parse
    dumps = orjson.dumps
    n = out = 0
    with open_log(path) as f:
        for entry in iter_entries(f):
            out += len(dumps(parse(entry.data)))
            n += 1
    return Counts(n, out)


def split_points(path: Path, parts: int) -> list[int]:
    """Byte offsets cutting the file into `parts` ranges, each starting where an entry starts."""
    size = path.stat().st_size
    points = [0]
    with path.open("rb") as f:
        for k in range(1, parts):
            # search from one byte before the guess so a guess that lands on an entry start keeps it
            pos = max(points[-1], size * k // parts - 1)
            f.seek(pos)
            cut = size
            carry = b""
            while chunk := f.read(1 << 20):
                buf = carry + chunk
                m = ENTRY_START.search(buf)
                if m is not None:
                    cut = pos - len(carry) + m.start() + 1
                    break
                # keep the tail: a newline at a chunk edge must still see the timestamp after it
                carry = buf[-20:]
                pos += len(chunk)
            points.append(cut)
    points.append(size)
    return points


def parse_dump_range(path: str, start: int, end: int) -> Counts:
    """Worker: parse and serialise the entries that start in [start, end); return counts only."""
    import orjson

    from shipper.exim.parse import EntryParser
    from shipper.files.reader import iter_entries

    parse = EntryParser(timezone=TIMEZONE, server_name=SERVER).parse
    dumps = orjson.dumps
    n = out = 0
    with Path(path).open("rb") as f:
        f.seek(start)
        for entry in iter_entries(f, start):
            if entry.offset >= end:
                break
            out += len(dumps(parse(entry.data)))
            n += 1
    return Counts(n, out)


def parse_dump_parallel(path: Path, workers: int) -> Counts:
    points = split_points(path, workers)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(parse_dump_range, str(path), a, b) for a, b in itertools.pairwise(points)]
        results = [fut.result() for fut in futures]
    return Counts(sum(r.entries for r in results), sum(r.json_bytes for r in results))


def run_eximstats(exe: str, path: Path) -> tuple[float, int, int | None]:
    """One full eximstats run: (wall seconds, peak RSS KiB, messages it counted as received).

    A child's ru_maxrss includes what it inherited at fork, so forking eximstats from this (large)
    process would report our size, not its own. A minimal Python launcher forks it instead, times
    it from fork to exit and reports its rusage.
    """
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _LAUNCHER, exe, *EXIMSTATS_FLAGS, str(path)],
        capture_output=True,
        check=False,
    )
    secs, maxrss, code = proc.stderr.split()[-3:]
    if int(code) != 0:
        raise RuntimeError(f"eximstats exited with {int(code)}")
    m = re.search(rb"^\s*Received\s+\S+\s+([\d,]+)", proc.stdout, re.MULTILINE)
    received = int(m.group(1).replace(b",", b"")) if m else None
    return float(secs), int(maxrss), received


def find_eximstats(wait: float) -> str | None:
    exe = shutil.which("eximstats")
    deadline = time.monotonic() + wait
    while exe is None and time.monotonic() < deadline:
        time.sleep(10)
        exe = shutil.which("eximstats")
    return exe


def unrecognized_report(path: Path, limit: int) -> tuple[int, int, int, collections.Counter[str], list[str]]:
    """Untimed sanity pass: (entries, unrecognized, parse errors, per-action counts, example lines)."""
    from shipper.exim.parse import EntryParser
    from shipper.files.archive import open_log
    from shipper.files.reader import iter_entries

    parser = EntryParser(timezone=TIMEZONE, server_name=SERVER)
    actions: collections.Counter[str] = collections.Counter()
    errors = 0
    examples: dict[str, str] = {}
    n = 0
    with open_log(path) as f:
        for entry in iter_entries(f):
            doc = parser.parse(entry.data)
            n += 1
            action = doc["event"]["action"]
            actions[action] += 1
            if "parse_error" in doc.get("exim", {}):
                errors += 1
            if action == "unrecognized" and len(examples) < limit:
                text = entry.data.decode("utf-8", "replace")
                examples.setdefault(_shape(text), text)
    return n, actions["unrecognized"], errors, actions, list(examples.values())


def _shape(text: str) -> str:
    """A rough line shape, so the examples show different kinds of line rather than ten of one kind."""
    body = _PREFIX.sub("", text.split("\n", 1)[0])
    out = []
    for i, tok in enumerate(body.split()[:4]):
        if "=" in tok:
            out.append(tok.split("=", 1)[0] + "=")
        elif "@" in tok or "." in tok or any(c.isdigit() for c in tok):
            out.append("*")
        elif i == 0 and tok.endswith(":"):
            out.append("*:")
        else:
            out.append(tok)
    return " ".join(out)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--lines", type=int, default=1_000_000, help="lines in the generated log (default 1000000)"
    )
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument(
        "--runs", type=int, default=3, help="timed runs per measurement; the best counts (default 3)"
    )
    ap.add_argument("--workers", type=int, default=2, help="processes for the parallel run (default 2)")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep generated logs in bench/out/ for later runs (default: remove what this run generated)",
    )
    ap.add_argument("--wait-eximstats", type=float, default=0.0, help="seconds to wait for eximstats on PATH")
    args = ap.parse_args(argv)
    _ensure_importable()

    t0 = time.perf_counter()
    path, generated = ensure_log(args.lines, args.seed)
    gen_s = time.perf_counter() - t0
    created = [path] if generated else []
    try:
        return _bench(args, path, generated, gen_s, created)
    finally:
        if not args.keep:
            for p in created:
                p.unlink(missing_ok=True)


def _bench(args: argparse.Namespace, path: Path, generated: bool, gen_s: float, created: list[Path]) -> int:
    lines = count_lines(path)
    size_mb = path.stat().st_size / 1e6
    origin = f"generated in {gen_s:.1f} s" if generated else "cached"
    print(
        f"log:      {path.relative_to(ROOT)}  ({size_mb:.1f} MB, {lines:,} lines, seed {args.seed}, {origin})"
    )
    print(
        f"host:     Python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"each figure is the best of {args.runs} runs (time.perf_counter, wall clock)"
    )

    t_parse, entries = best_of(args.runs, lambda: parse_only(path))
    print(f"entries:  {entries:,} logical entries (lines without a timestamp continue the entry before)")
    print()
    print(f"{'':42}{'lines/s':>12}  {'entries/s':>12}  best s   (all runs)")

    def row(label: str, t: Timed, n_entries: int | None = None) -> None:
        ent = rate(n_entries, t.best) if n_entries is not None else f"{'':>12}"
        runs = ", ".join(f"{x:.2f}" for x in t.runs)
        print(f"{label:42}{rate(lines, t.best)}  {ent}  {t.best:6.2f}   ({runs})")

    row("parse only, 1 process", t_parse, entries)
    t_dump, counts = best_of(args.runs, lambda: parse_dump(path))
    row("parse + orjson.dumps, 1 process", t_dump, counts.entries)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t_par, par = best_of(args.runs, lambda: parse_dump_parallel(path, args.workers))
    row(f"parse + orjson.dumps, {args.workers} worker processes", t_par, par.entries)
    print(f"peak RSS, single process (parse + serialise runs): {peak_rss:.1f} MiB")
    per_entry = counts.json_bytes / max(counts.entries, 1)
    print(f"JSON produced per pass: {counts.json_bytes / 1e6:.1f} MB ({per_entry:.0f} B/entry)")
    if par.entries != entries or counts.entries != entries:
        print(f"WARNING: entry counts differ: parse {entries}, dump {counts.entries}, parallel {par.entries}")
    print(
        f"  ({args.workers}-worker run: the file is split into byte ranges at entry starts; each worker\n"
        "   opens the file itself and returns counts only; pool start-up is included)"
    )

    print()
    exe = find_eximstats(args.wait_eximstats)
    if exe is None:
        print("eximstats: not on PATH, ratio skipped (Debian package exim4-base provides it)")
    else:
        flags = " ".join(EXIMSTATS_FLAGS)
        ver = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False).stdout
        vm = re.search(r"Version (\S+)", ver)
        print(f"eximstats {vm.group(1) if vm else '?'} ({exe} {flags} FILE, report piped and discarded)")
        arrivals = _count_arrivals(path)
        es = _eximstats_rows(exe, path, lines, args.runs, arrivals=arrivals, label="same file")
        twin_cached = path.with_name(path.stem + "-id16.log").exists()
        twin = ensure_short_id_twin(path)
        if not twin_cached:
            created.append(twin)
        es16 = _eximstats_rows(exe, twin, lines, args.runs, arrivals=arrivals, label="16-char-id copy")
        print()
        print("ratio ours / eximstats (lines/s; >1 means we are faster):")
        for label, ours in (
            ("parse only, 1 process", t_parse.best),
            ("parse + serialise, 1 process", t_dump.best),
            (f"parse + serialise, {args.workers} workers", t_par.best),
        ):
            print(f"  {label:34} {es / ours:5.2f}x vs same file   {es16 / ours:5.2f}x vs 16-char-id copy")
        print(EXIMSTATS_NOTE)

    print()
    n, unrec, errors, actions, examples = unrecognized_report(path, 10)
    print(
        f'sanity: {unrec:,} of {n:,} entries are event.action == "unrecognized" ({100 * unrec / n:.2f}%), '
        f"{errors} parse errors, {len(actions)} distinct actions"
    )
    for ex in examples:
        print(f"  {ex[:300]}")
    return 0


def _count_arrivals(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        for line in f:
            # the flag follows the prefix and id; " <= " elsewhere in a line would be unusual
            if b" <= " in line[:90]:
                n += 1
    return n


def _eximstats_rows(exe: str, path: Path, lines: int, runs: int, *, arrivals: int, label: str) -> float:
    times: list[float] = []
    rss = 0
    received: int | None = None
    for _ in range(runs):
        secs, rss, received = run_eximstats(exe, path)
        times.append(secs)
    best = min(times)
    runs_s = ", ".join(f"{x:.2f}" for x in times)
    counted = f"{received:,}" if received is not None else "?"
    print(
        f"{'eximstats, ' + label:42}{rate(lines, best)}  {'':>12}  {best:6.2f}   ({runs_s})  "
        f"peak RSS {rss / 1024:.1f} MiB, counted {counted} of {arrivals:,} arrivals"
    )
    return best


if __name__ == "__main__":
    raise SystemExit(main())
