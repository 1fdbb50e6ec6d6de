"""Syslog input cost: the generated log as Exim writes it, and the same entries as a mail.log (BSD syslog
records, multi-line entries in `[n\\m]` pieces), each through `exim-shipper parse` as a user runs it (a
process, output discarded) and through the core alone (`shipper._native.Reader`, `form="syslog"` for the
mail.log). Best of --runs, interleaved:

    .venv/bin/python bench/syslog_speed.py --lines 100000 --runs 3
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SERVER = "bench"
ZONE = "UTC"
STAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d)\S* (?:[+-]\d{4} )?(?:\[(\d+)\] )?")
MONTHS = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
# Where an Exim entry starts: a line opening with its timestamp (the others continue the entry before).
ENTRY_START = re.compile(rb"^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", re.MULTILINE)


def entries(log: bytes) -> list[bytes]:
    """The log's entries, each without its final newline."""
    cuts = [m.start() for m in ENTRY_START.finditer(log)]
    if not cuts or cuts[0] != 0:
        cuts.insert(0, 0)
    ends = [*cuts[1:], len(log)]
    return [log[a:b].removesuffix(b"\n") for a, b in zip(cuts, ends, strict=True) if b > a]


def as_mail_log(native: bytes) -> bytes:
    """Each entry as one BSD syslog record (Exim's own timestamp kept), multi-line ones in `[n\\m]` pieces."""
    out: list[bytes] = []
    for entry in entries(native):
        m = STAMP.match(entry)
        if m is None:
            continue
        _, month, day, hms, pid = m.groups()
        head = b"%s %2d %s mx exim[%s]: " % (MONTHS[int(month) - 1], int(day), hms, pid or b"1")
        lines = entry.split(b"\n")
        if len(lines) == 1:
            out.append(head + entry)
            continue
        for i, piece in enumerate(lines, 1):
            out.append(head + b"[%d%s%d] " % (i, b"\\" if i < len(lines) else b"/", len(lines)) + piece)
    return b"\n".join(out) + b"\n"


def parse_command(path: Path) -> list[str]:
    shipper = Path(sys.executable).parent / "exim-shipper"
    return [str(shipper), "parse", "--timezone", ZONE, "--server-name", SERVER, str(path)]


def timed_parse(path: Path) -> float:
    """Wall seconds of `exim-shipper parse FILE >/dev/null`, process start included."""
    t0 = time.perf_counter()
    done = subprocess.run(parse_command(path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"syslog_speed: parse {path.name}: {done.stderr.decode()[-400:]}")
    return seconds


def core_alone(data: bytes, *, syslog: bool) -> tuple[float, int, int]:
    """The core's Reader over the whole input in 1 MiB chunks: (seconds, entries, syslog records skipped)."""
    from shipper import _native

    form: dict[str, object] = {}
    if syslog:
        today = date.today()
        form = {"form": "syslog", "anchor": (today.year, today.month, today.day), "programs": ["exim"]}
    size = _native.RECORD_SIZE
    t0 = time.perf_counter()
    r = _native.Reader(
        server=SERVER,
        zone=ZONE,
        dataset="exim.main",
        path="bench",
        index_prefix="exim",
        **form,  # type: ignore[arg-type]
    )
    step = 1 << 20
    records = 0
    for offset in range(0, len(data), step):
        records += len(r.feed(data[offset : offset + step], offset)[1])
    records += len(r.finish()[1])
    return time.perf_counter() - t0, records // size, r.skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    try:
        from shipper import _native  # noqa: F401 - only whether it is built
    except ImportError:
        print("syslog_speed: shipper._native is not built (make native)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mainlog"
        cmd = [sys.executable, str(BENCH / "generate_mainlog.py"), str(path), "--lines", str(args.lines)]
        subprocess.run(cmd, check=True, capture_output=True)
        own = path.read_bytes()
        mail_log = Path(tmp) / "mail.log"
        mail_log.write_bytes(as_mail_log(own))
        lines = own.count(b"\n")
        inputs = (("exim", path, own, False), ("syslog", mail_log, mail_log.read_bytes(), True))
        print(f"{lines:,} lines of Exim's own log; best of {args.runs}, lines/s of those lines")
        print(f"  parse: {' '.join(parse_command(Path('FILE')))} >/dev/null")
        parse: dict[str, list[float]] = {label: [] for label, *_ in inputs}
        alone: dict[str, list[tuple[float, int, int]]] = {label: [] for label, *_ in inputs}
        for _ in range(args.runs):  # interleaved: a spell of load elsewhere favours no row
            for label, file, data, syslog in inputs:
                parse[label].append(timed_parse(file))
                alone[label].append(core_alone(data, syslog=syslog))
        head = f"{'input':<8} {'entries':>9} {'parse lines/s':>14} {'best s':>7}"
        print(f"{head} {'core lines/s':>13} {'best s':>7}")
        for label, *_ in inputs:
            best_parse = min(parse[label])
            best_core = min(t for t, _n, _s in alone[label])
            _, n, _skipped = alone[label][0]
            print(
                f"{label:<8} {n:>9,} {lines / best_parse:>14,.0f} {best_parse:7.2f} "
                f"{lines / best_core:>13,.0f} {best_core:7.2f}"
            )
        ratio_parse = min(parse["syslog"]) / min(parse["exim"])
        ratio_core = min(t for t, *_ in alone["syslog"]) / min(t for t, *_ in alone["exim"])
        print(f"syslog / exim time: parse {ratio_parse:.2f}x, core alone {ratio_core:.2f}x")
        if alone["syslog"][0][1] != alone["exim"][0][1]:
            print(f"WARNING: entries differ: exim {alone['exim'][0][1]:,}, syslog {alone['syslog'][0][1]:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
