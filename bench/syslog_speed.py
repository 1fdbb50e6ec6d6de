"""Syslog input cost: the generated log as Exim writes it, and the same log as a mail.log, read and parsed
(the Python assembler and parser), then the ship loop's per-line path up to the bulk items (`Shipper._items`
over an `ArchiveSource`, as a backfill runs it, nothing sent) with the native core and without it, and the
core alone (`Reader.feed`). Best of --runs, one process:

    make native && .venv/bin/python bench/syslog_speed.py --lines 100000 --runs 3
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from shipper.exim.parse import EntryParser
from shipper.files import native
from shipper.files.archive import dataset_for
from shipper.files.identity import identify
from shipper.files.reader import iter_entries
from shipper.files.syslog import SyslogAssembler
from shipper.pipeline import Shipper, _Lane
from shipper.settings import Settings
from shipper.sources import ArchiveSource

SERVER = "bench"
ZONE = "UTC"

BENCH = Path(__file__).resolve().parent
STAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d)\S* (?:[+-]\d{4} )?(?:\[(\d+)\] )?")
MONTHS = b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def as_mail_log(native: bytes) -> bytes:
    """Each entry as one BSD syslog record (Exim's own timestamp kept), multi-line ones in `[n\\m]` pieces."""
    out: list[bytes] = []
    for entry in iter_entries(io.BytesIO(native)):
        m = STAMP.match(entry.data)
        if m is None:
            continue
        _, month, day, hms, pid = m.groups()
        head = b"%s %2d %s mx exim[%s]: " % (MONTHS[int(month) - 1], int(day), hms, pid or b"1")
        lines = entry.data.split(b"\n")
        if len(lines) == 1:
            out.append(head + entry.data)
            continue
        for i, piece in enumerate(lines, 1):
            out.append(head + b"[%d%s%d] " % (i, b"\\" if i < len(lines) else b"/", len(lines)) + piece)
    return b"\n".join(out) + b"\n"


def timed(data: bytes, assembler: SyslogAssembler | None) -> tuple[int, float, float]:
    """Entries, seconds to assemble them, seconds to assemble and parse them."""
    t0 = time.perf_counter()
    n = sum(1 for _ in iter_entries(io.BytesIO(data), assembler=assembler))
    t1 = time.perf_counter()
    parser = EntryParser("UTC", "bench")
    fresh = assembler.fresh() if assembler is not None else None
    for entry in iter_entries(io.BytesIO(data), assembler=fresh):
        parser.parse(entry.data, entry.origin)
    return n, t1 - t0, time.perf_counter() - t1


def loop(path: Path, *, syslog: bool, core: bool) -> tuple[float, int, int]:
    """The ship loop's per-line path over `path` up to the bulk items: (seconds, entries, core-rendered)."""
    saved = native.core
    if not core:
        native.core = None
    try:
        settings = Settings(server_name="" if syslog else SERVER, timezone=ZONE)
        sh = Shipper.__new__(Shipper)  # no state directory or cluster: only the per-line methods run
        sh.settings, sh.server, sh.zone = settings, SERVER, ZONE
        make = native.native_for(SERVER, ZONE, settings.index_prefix, dataset_for)
        assert (make is not None) == core, "the native core is not built: make native"

        def wrapped_for(_head: bytes, _mtime: float | None) -> SyslogAssembler | None:
            return SyslogAssembler("syslog", date.today(), host_from_syslog=True) if syslog else None

        t0 = time.perf_counter()
        source = ArchiveSource(path, identify(path), 0, wrapped_for, make)
        lane = _Lane(source, sh._parser(str(path)), settings.max_open_messages)
        entries = rendered = 0
        while not source.caught_up:
            for _item, _parts, _offset, _end, code in sh._items(lane, source.poll(0.0, 0.0)):
                entries += 1
                rendered += code > 0
        seconds = time.perf_counter() - t0
        source.close()
    finally:
        native.core = saved
    return seconds, entries, rendered


def core_alone(data: bytes, *, syslog: bool) -> float:
    """The core's Reader over the whole input in 1 MiB chunks (bulk lines, records, facts)."""
    assert native.core is not None
    form: dict[str, object] = {}
    if syslog:
        today = date.today()
        form = {"form": "syslog", "anchor": (today.year, today.month, today.day), "programs": ["exim"]}
    t0 = time.perf_counter()
    r = native.core.Reader(
        server=SERVER, zone=ZONE, dataset="exim.main", path="bench", index_prefix="exim", **form
    )
    step = 1 << 20
    for offset in range(0, len(data), step):
        r.feed(data[offset : offset + step], offset)
    r.finish()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mainlog"
        cmd = [sys.executable, str(BENCH / "generate_mainlog.py"), str(path), "--lines", str(args.lines)]
        subprocess.run(cmd, check=True, capture_output=True)
        own = path.read_bytes()
        wrapped = as_mail_log(own)
        mail_log = Path(tmp) / "mail.log"
        mail_log.write_bytes(wrapped)
        print(f"{'input':<10} {'entries':>8} {'assemble µs/entry':>18} {'parse µs/entry':>15}")
        for label, data, assembler in (
            ("exim", own, None),
            ("syslog", wrapped, SyslogAssembler("syslog", date.today())),
        ):
            n, assemble, parse = timed(data, assembler)
            print(f"{label:<10} {n:>8} {assemble / n * 1e6:>18.1f} {parse / n * 1e6:>15.1f}")
        if native.core is None:
            print("the native core is not built (make native): no loop rows")
            return
        print(f"ship loop up to the bulk items, best of {args.runs} (lines/s of the input's Exim lines):")
        lines = own.count(b"\n")
        for label, file, data, syslog in (("exim", path, own, False), ("syslog", mail_log, wrapped, True)):
            py, nat, alone = [], [], []
            for _ in range(args.runs):  # interleaved: a spell of load elsewhere favours no row
                py.append(loop(file, syslog=syslog, core=False))
                nat.append(loop(file, syslog=syslog, core=True))
                alone.append(core_alone(data, syslog=syslog))
            assert py[0][1] == nat[0][1], "both paths give the same entries"
            best_py, best_nat, best_alone = min(r[0] for r in py), min(r[0] for r in nat), min(alone)
            _, entries, rendered = nat[0]
            print(f"  {label}: {entries:,} entries, {100 * rendered / entries:.1f}% rendered by the core")
            print(f"    python loop            {lines / best_py:>10,.0f} lines/s  {best_py:6.2f} s")
            print(f"    native loop            {lines / best_nat:>10,.0f} lines/s  {best_nat:6.2f} s")
            print(f"    core alone (Reader)    {lines / best_alone:>10,.0f} lines/s  {best_alone:6.2f} s")
            print(f"    native / python: {best_py / best_nat:.2f}x")


if __name__ == "__main__":
    main()
