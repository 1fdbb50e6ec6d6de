"""Syslog input cost: the generated log as Exim writes it, and the same log as a mail.log, read and parsed."""

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
from shipper.files.reader import iter_entries
from shipper.files.syslog import SyslogAssembler

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mainlog"
        cmd = [sys.executable, str(BENCH / "generate_mainlog.py"), str(path), "--lines", str(args.lines)]
        subprocess.run(cmd, check=True, capture_output=True)
        native = path.read_bytes()
    wrapped = as_mail_log(native)
    print(f"{'input':<10} {'entries':>8} {'assemble µs/entry':>18} {'parse µs/entry':>15}")
    for label, data, assembler in (
        ("exim", native, None),
        ("syslog", wrapped, SyslogAssembler("syslog", date.today())),
    ):
        n, assemble, parse = timed(data, assembler)
        print(f"{label:<10} {n:>8} {assemble / n * 1e6:>18.1f} {parse / n * 1e6:>15.1f}")


if __name__ == "__main__":
    main()
