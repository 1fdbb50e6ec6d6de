"""Issue 11's parse targets, run by `make bench`: `exim-shipper parse` and `parse --messages` as a user
runs them, against eximstats on the same log, with peak RSS, in one run, best of --runs.

    .venv/bin/python bench/parse_speed.py                  # the 1,000,000-line log, best of 3
    .venv/bin/python bench/parse_speed.py --lines 20000 --runs 1

Each measurement is a process of its own, started from a tiny launcher (so its peak RSS is its own, not
this script's) with its output discarded, as `COMMAND >/dev/null` would; the commands are printed as they
run. The rounds are interleaved (eximstats, parse, parse --messages, then again), so a spell of load
elsewhere on the shared machine does not favour one of them; each figure is the best of its rounds and
each round's own ratio is printed too. eximstats is Debian's (exim4-base: on PATH, or fetched into the
cache by tools/exim4_base.py) and reads the 16-char-id copy of the log (see EXIMSTATS_NOTE).

The helpers here (the generated log, its 16-char-id twin, eximstats' launcher) are shared by the other
bench scripts.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
TIMEZONE = "Europe/London"
SERVER = "bench"
# eximstats' cheapest report: no relay table (-nr), no top-N lists (-t0), no histograms (-h0) and no
# queue-time table (-q0). It still reads and matches every line, so this is the floor of its cost.
EXIMSTATS_FLAGS = ("-nr", "-t0", "-h0", "-q0")
EXIMSTATS_NOTE = """\
note: eximstats up to Exim 4.96 (its version 1.61) reads the message id and the flag at fixed
columns made for 16-char ids; on a 23-char-id line it misreads the flag and skips the line, so on
the original file it does less work than a parser that reads every line. The 16-char-id copy has
the same lines with shortened ids, which it parses in full: the ratios are taken against that."""
# The targets: ours / eximstats in lines per second, and the peak RSS of either command.
TARGETS = {"parse": 3.0, "parse --messages": 1.5}
RSS_TARGET_MB = 150
# Forks the command, points its stdout at /dev/null (argv[1] "null") or leaves it on the launcher's
# stdout (argv[1] "keep"), its stderr at the file argv[2], times it from fork to exit, and reports its
# own rusage: a child's ru_maxrss counts what it inherited at fork, so it must fork from a small process.
_LAUNCHER = """\
import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    if sys.argv[1] == "null":
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.dup2(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
    os.execvp(sys.argv[3], sys.argv[3:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
cpu = usage.ru_utime + usage.ru_stime
sys.stderr.write(f"{wall} {cpu} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}\\n")
"""
# 23-char id (6-11-4) -> 16-char id (6-6-2): keeps the time part, the low pid digits and the sub-second
# digits, so the ids stay distinct and sortable.
NEW_ID = re.compile(rb"\b([0-9A-Za-z]{6})-[0-9A-Za-z]{5}([0-9A-Za-z]{6})-([0-9A-Za-z]{2})[0-9A-Za-z]{2}\b")


@dataclass(frozen=True, slots=True)
class Run:
    """One launched process: wall and CPU seconds, peak RSS in KiB, and what it printed (kept output)."""

    wall: float
    cpu: float
    maxrss_kib: int
    stdout: bytes


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


def launch(cmd: list[str], *, keep_stdout: bool = False) -> Run:
    """Run `cmd` from the launcher; a failure ends the bench with the command and its stderr's tail."""
    with tempfile.NamedTemporaryFile(prefix="exim-shipper-bench-", suffix=".err") as err:
        mode = "keep" if keep_stdout else "null"
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, mode, err.name, *cmd],
            stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall, cpu, maxrss, code = proc.stderr.split()[-4:]
        if int(code) != 0:
            tail = Path(err.name).read_bytes().decode("utf-8", "replace").strip()[-600:]
            raise SystemExit(f"parse_speed: `{shlex.join(cmd)}` exited with {int(code)}: {tail}")
    return Run(float(wall), float(cpu), int(maxrss), proc.stdout or b"")


def run_eximstats(exe: str, path: Path) -> tuple[float, int, int | None]:
    """One full eximstats run: (wall seconds, peak RSS KiB, messages it counted as received)."""
    run = launch([exe, *EXIMSTATS_FLAGS, str(path)], keep_stdout=True)
    return run.wall, run.maxrss_kib, received(run.stdout)


def received(report: bytes) -> int | None:
    """The messages eximstats' report counts as received."""
    m = re.search(rb"^\s*Received\s+\S+\s+([\d,]+)", report, re.MULTILINE)
    return int(m.group(1).replace(b",", b"")) if m else None


def find_eximstats() -> str | None:
    """eximstats on PATH, else Debian's from the cache (fetched on first use), else None."""
    exe = shutil.which("eximstats")
    if exe is not None:
        return exe
    sys.path.insert(0, str(ROOT / "tools"))
    import exim4_base  # tools/ is a folder of scripts, put on sys.path above

    try:
        return str(exim4_base.script("eximstats"))
    except exim4_base.FetchFailed as exc:
        print(f"eximstats: unavailable ({exc})")
        return None


def find_shipper() -> str:
    """The installed `exim-shipper` command: beside this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "exim-shipper"
    if beside.exists():
        return str(beside)
    found = shutil.which("exim-shipper")
    if found is None:
        raise SystemExit("parse_speed: no exim-shipper command (make install)")
    return found


def _shown(cmd: list[str]) -> str:
    """The command as a user types it: paths under the project relative to it."""
    return shlex.join(os.path.relpath(a, ROOT) if a.startswith(str(ROOT)) else a for a in cmd)


def sanity(cmd: list[str]) -> tuple[int, int]:
    """Untimed: the documents `parse` prints and how many are `unrecognized`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    docs = unrecognized = 0
    tail = b""
    while chunk := proc.stdout.read(1 << 20):
        # Keys are written without spaces; inside `event.original` a quote is escaped, so no line's
        # text can imitate the member.
        buf = tail + chunk
        docs += chunk.count(b"\n")
        unrecognized += buf.count(b'"action":"unrecognized"') - tail.count(b'"action":"unrecognized"')
        tail = buf[-32:]
    if proc.wait() != 0:
        raise SystemExit(f"parse_speed: `{shlex.join(cmd)}` exited with {proc.returncode}")
    return docs, unrecognized


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--lines", type=int, default=1_000_000, help="lines in the generated log (default 1000000)"
    )
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--runs", type=int, default=3, help="interleaved rounds; the best counts (default 3)")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep logs this run generated in bench/out/ for later runs (default: remove them)",
    )
    ap.add_argument("--no-sanity", action="store_true", help="skip the untimed count of unrecognized lines")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    path, generated = ensure_log(args.lines, args.seed)
    gen_s = time.perf_counter() - t0
    created = [path] if generated else []
    try:
        return _bench(args, path, f"generated in {gen_s:.1f} s" if generated else "cached", created)
    finally:
        if not args.keep:
            for p in created:
                p.unlink(missing_ok=True)


def _commands(path: Path, created: list[Path]) -> dict[str, list[str]]:
    """What is timed, by label: eximstats on the 16-char-id twin (where it is found), then ours."""
    base = [find_shipper(), "parse", "--timezone", TIMEZONE, "--server-name", SERVER]
    commands: dict[str, list[str]] = {}
    exe = find_eximstats()
    if exe is None:
        print("eximstats: not found, ratios skipped (Debian package exim4-base provides it)")
    else:
        twin_cached = path.with_name(path.stem + "-id16.log").exists()
        twin = ensure_short_id_twin(path)
        if not twin_cached:
            created.append(twin)
        help_text = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False).stdout
        version = re.search(r"Version (\S+)", help_text)
        print(f"eximstats {version.group(1) if version else '?'}, its report read for the count of messages")
        commands["eximstats"] = [exe, *EXIMSTATS_FLAGS, str(twin)]
    commands["parse"] = [*base, str(path)]
    commands["parse --messages"] = [*base, "--messages", str(path)]
    return commands


def _bench(args: argparse.Namespace, path: Path, origin: str, created: list[Path]) -> int:
    lines = count_lines(path)
    print(
        f"log:      {path.relative_to(ROOT)}  ({path.stat().st_size / 1e6:.1f} MB, {lines:,} lines, "
        f"seed {args.seed}, {origin})"
    )
    print(
        f"host:     Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; best of {args.runs} interleaved rounds, wall "
        "clock from fork to exit (process start included); output discarded"
    )
    print()
    commands = _commands(path, created)
    for label, cmd in commands.items():
        out = "" if label == "eximstats" else " >/dev/null"
        print(f"  {label:17} {_shown(cmd)}{out}")
    print()

    runs: dict[str, list[Run]] = {label: [] for label in commands}
    for _ in range(args.runs):
        for label, cmd in commands.items():
            runs[label].append(launch(cmd, keep_stdout=label == "eximstats"))

    print(f"{'':17} {'lines/s':>10} {'best s':>7} {'CPU s':>6} {'peak RSS':>9}   all runs (s)")
    for label, done in runs.items():
        best = min(r.wall for r in done)
        cpu = min(r.cpu for r in done)
        all_runs = ", ".join(f"{r.wall:.2f}" for r in done)
        rss = _peak_mb(done)
        print(f"{label:17} {lines / best:>10,.0f} {best:7.2f} {cpu:6.2f} {rss:6.1f} MB   ({all_runs})")
    if "eximstats" in runs:
        _ratios(runs)
    print()
    for label in TARGETS:
        rss = _peak_mb(runs[label])
        verdict = "met" if rss <= RSS_TARGET_MB else "not met"
        print(f"peak RSS, {label:17} {rss:6.1f} MB  (target <= {RSS_TARGET_MB} MB: {verdict})")
    if not args.no_sanity:
        docs, unrecognized = sanity(commands["parse"])
        share = 100 * unrecognized / max(docs, 1)
        print(f'sanity (untimed): parse printed {docs:,} events, {unrecognized:,} "unrecognized" ', end="")
        print(f"({share:.2f}%)")
    return 0


def _peak_mb(done: list[Run]) -> float:
    """The highest peak RSS of the runs, in MB (10^6 bytes: the stricter reading of the target)."""
    return max(r.maxrss_kib for r in done) * 1024 / 1e6


def _ratios(runs: dict[str, list[Run]]) -> None:
    """Ours against eximstats: of the best wall times, of the best CPU times, and round by round."""
    es = runs["eximstats"]
    counted = received(es[0].stdout)
    print(f"  (eximstats counted {counted if counted is None else f'{counted:,}'} messages received)")
    print()
    es_best = min(r.wall for r in es)
    es_cpu = min(r.cpu for r in es)
    print("ratio ours / eximstats (lines/s, >1 is faster): wall of the bests (CPU of the bests; per round)")
    for label, target in TARGETS.items():
        ours = runs[label]
        wall = es_best / min(r.wall for r in ours)
        cpu = es_cpu / min(r.cpu for r in ours)
        rounds = ", ".join(f"{e.wall / o.wall:.2f}" for e, o in zip(es, ours, strict=True))
        print(f"  {label:17} {wall:5.2f}x  (CPU {cpu:.2f}x; rounds {rounds})  target >= {target}x")
    print(EXIMSTATS_NOTE)


if __name__ == "__main__":
    raise SystemExit(main())
