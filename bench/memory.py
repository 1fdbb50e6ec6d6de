"""Issue 11's memory target (peak RSS <= 150 MB): the peak RSS of `exim-shipper parse`, `parse --messages`
and `backfill` of the bench log, each a process of its own, best of N (the machine is shared).

    .venv/bin/python bench/memory.py                                  # parse, parse --messages; 1M lines
    .venv/bin/python bench/memory.py --commands backfill --lines 200000   # backfill into a node it starts
    .venv/bin/python bench/memory.py --log FILE --runs 3 --commands messages --exe OTHER/exim-shipper
    .venv/bin/python bench/memory.py --commands messages --env MIMALLOC_ARENA_EAGER_COMMIT=1   # mimalloc's

A run's peak is its process's `ru_maxrss` (`os.wait4`). Its standard output goes through a SHA-256 here,
so two builds' outputs can be compared byte for byte (printed beside the peak; `parse --messages`' must
not change with a memory cut). With --timeline, /proc's VmRSS of the process is read every 0.25 s and
printed at ten points, to show where in the run the peak falls. backfill writes into a fresh prefix of a
node on free loopback ports (tools/local_opensearch.py, as bench_node starts it; never :9200), and
prints the documents stored (events + summaries), which must be the same in every run. `parse` runs on
shipper.quick_start (no pydantic-settings) unless an EXIM_SHIPPER_* variable is set: --env takes the
variables each command gets on top of this environment.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import backfill_vs_bulk  # noqa: E402 - bench/ is a folder of scripts
import bench_node  # noqa: E402
import parse_speed  # noqa: E402

COMMANDS = ("parse", "messages", "backfill")
TARGET_MB = 150
COMMON = ["--timezone", "Europe/London", "--server-name", "bench"]


@dataclass(frozen=True)
class Run:
    peak_mb: float
    seconds: float
    digest: str
    timeline: list[tuple[float, float]]


def _sample(pid: int, into: list[tuple[float, float]], t0: float) -> None:
    """VmRSS of `pid` every 0.25 s until it exits."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            text = status.read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                into.append((time.perf_counter() - t0, int(line.split()[1]) / 1024))
        time.sleep(0.25)


def measure(cmd: list[str], env: dict[str, str] | None = None, timeline: bool = False) -> Run:
    """One run of `cmd`: its peak RSS, wall seconds and the digest of its standard output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    points: list[tuple[float, float]] = []
    sampler = threading.Thread(target=_sample, args=(proc.pid, points, t0), daemon=True)
    if timeline:
        sampler.start()
    digest = hashlib.sha256()
    assert proc.stdout is not None
    while chunk := proc.stdout.read(1 << 20):
        digest.update(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit status {os.waitstatus_to_exitcode(status)}")
    return Run(usage.ru_maxrss / 1024, seconds, f"sha256 {digest.hexdigest()[:16]}", points)


def _report(name: str, runs: list[Run]) -> None:
    for i, r in enumerate(runs, 1):
        print(f"  {name} run {i}: peak RSS {r.peak_mb:.1f} MB, {r.seconds:.1f} s, output {r.digest}")
    best = min(runs, key=lambda r: r.peak_mb)
    verdict = "meets" if best.peak_mb <= TARGET_MB else "over"
    print(f"{name}: best peak RSS {best.peak_mb:.1f} MB ({verdict} the {TARGET_MB} MB target)")
    if len({r.digest for r in runs}) > 1:
        print(f"{name}: the runs' outputs differ")
    if best.timeline:
        step = max(1, len(best.timeline) // 10)
        points = ", ".join(f"{t:.0f}s {mb:.0f}" for t, mb in best.timeline[::step])
        print(f"  {name} VmRSS (s MB): {points}")


def backfills(exe: str, log: Path, runs: int, timeline: bool, extra: dict[str, str]) -> list[Run]:
    """`exim-shipper backfill` of `log` into a fresh prefix per run, on a node started here."""
    url, data = bench_node.start(None)
    work = Path(tempfile.mkdtemp(prefix="exim-shipper-memory-"))
    out: list[Run] = []
    try:
        for i in range(runs):
            prefix = f"mem{i}"
            backfill_vs_bulk.set_up(url, prefix)
            env = {**os.environ, **extra, "EXIM_SHIPPER_STATE_DIR": str(work / f"state-{prefix}")}
            cmd = [
                exe,
                "backfill",
                str(log),
                "--opensearch-url",
                url,
                "--index-prefix",
                prefix,
                *COMMON,
                "--quiet",
            ]
            run = measure(cmd, env, timeline)
            node = backfill_vs_bulk.Node(url)
            stored = node.stored(prefix)
            node.close()
            backfill_vs_bulk.drop(url, prefix)
            out.append(Run(run.peak_mb, run.seconds, f"{stored} documents", run.timeline))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        bench_node.stop(data)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="generated log's lines (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log", type=Path, help="this log instead of a generated one")
    ap.add_argument("--runs", type=int, default=2, help="runs of each command, best of (default 2)")
    ap.add_argument(
        "--commands", default="parse,messages", help=f"of {','.join(COMMANDS)} (default parse,messages)"
    )
    ap.add_argument("--exe", default=str(ROOT / ".venv" / "bin" / "exim-shipper"), help="another build's")
    ap.add_argument("--timeline", action="store_true", help="print VmRSS through the best run")
    ap.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a variable for every command"
    )
    args = ap.parse_args(argv)
    if bad := [e for e in args.env if "=" not in e]:
        ap.error(f"--env takes NAME=VALUE, not {bad[0]!r}")
    extra = {name: value for name, _, value in (e.partition("=") for e in args.env)}
    env = {**os.environ, **extra} if extra else None
    chosen = args.commands.split(",")
    if unknown := set(chosen) - set(COMMANDS):
        ap.error(f"unknown commands: {', '.join(sorted(unknown))}")
    log = args.log.resolve() if args.log else parse_speed.ensure_log(args.lines, args.seed)[0]
    print(f"log: {log}\nexe: {args.exe}" + "".join(f"\nenv: {e}" for e in args.env))
    exe = args.exe
    if "parse" in chosen:
        _report(
            "parse",
            [measure([exe, "parse", *COMMON, str(log)], env, args.timeline) for _ in range(args.runs)],
        )
    if "messages" in chosen:
        cmd = [exe, "parse", "--messages", *COMMON, str(log)]
        _report("parse --messages", [measure(cmd, env, args.timeline) for _ in range(args.runs)])
    if "backfill" in chosen:
        _report("backfill", backfills(exe, log, args.runs, args.timeline, extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
