"""Native core vs Python on the bench log (bench/generate_mainlog.py): lines/s of entry assembly + prefix +
zone + content id + bulk framing, best of N runs, one process.

Rows:
- python, same work: the Python pieces the core replaces (EntryAssembler, PREFIX_RE, TimestampConverter,
  event_id, event_index, orjson) making the same prefix-only documents;
- python, whole parse: today's per-line path (`Shipper._item`: parse, enrich, id, both bulk lines);
- native: `shipper._native.Reader` fed 1 MiB chunks, bulk bytes and records out;
- native + Python per batch: the same, plus what a batch-level Python side needs (count, bytes, last end);
- native + Python loop: the same, plus what the Python side does per entry with the records (unpack,
  slice the action and document lines), the new per-line cost on the Python side.

The native core makes whole documents for the message lines (`shipper._native.CLAIMED`: flags and
`Completed`) and the prefix-only placeholder for the others (the line catalogue is not ported yet); the
share of entries it claimed is printed, so its rows are not yet the speed of the finished port. Build it
first: `make native`.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from parse_speed import SERVER, TIMEZONE, ensure_log  # noqa: E402

CHUNK = 1 << 20
PATH = "/var/log/exim_mainlog"


def python_same_work(data: bytes) -> int:
    """The prefix-only document and action line per entry, built from the Python modules themselves."""
    import base64

    from shipper.exim.grammar import PREFIX_RE
    from shipper.exim.timestamps import TimestampConverter
    from shipper.files.reader import EntryAssembler
    from shipper.opensearch.documents import action_line, dumps, event_id, event_index
    from shipper.pipeline import _Occurrences

    times = TimestampConverter(TIMEZONE)
    occ = _Occurrences()
    asm = EntryAssembler()
    last: str | None = None
    out = 0
    entries = []
    for i in range(0, len(data), CHUNK):
        entries = asm.feed(data[i : i + CHUNK])
        for e in entries:
            n = occ.next(e.data)
            try:
                text, b64 = e.data.decode(), None
            except UnicodeDecodeError:
                text, b64 = e.data.decode("utf-8", "backslashreplace"), base64.b64encode(e.data).decode()
            doc: dict[str, object] = {}
            m = PREFIX_RE.match(text.partition("\n")[0].rstrip("\r"))
            if m is not None:
                ts = times.convert(m["date"], m["hm"], m["sec"], m["ms"], m["tz"])
                if ts is not None:
                    doc["@timestamp"] = last = ts
                elif last is not None:
                    doc["@timestamp"] = last
                if m["pid"]:
                    doc["process"] = {"pid": int(m["pid"])}
                if m["id"]:
                    doc["email"] = {"local_id": m["id"]}
            doc["event"] = {"original": text, "action": "unrecognized", "dataset": "exim.main"}
            doc["host"] = {"name": SERVER}
            if b64 is not None:
                doc["exim"] = {"original_base64": b64}
            doc["log"] = {"file": {"path": PATH}, "offset": e.offset}
            body = dumps(doc)
            index = event_index("exim", doc)  # type: ignore[arg-type]
            action = action_line("create", index, event_id(SERVER, e.data, n, second_pass=times.second_pass))
            out += len(action) + len(body)
    return out + len(asm.finish())


def python_whole(data: bytes) -> int:
    import io

    from shipper.exim.parse import EntryParser
    from shipper.files.reader import iter_entries
    from shipper.pipeline import Shipper, _Occurrences
    from shipper.settings import Settings

    with tempfile.TemporaryDirectory() as state:
        settings = Settings(state_dir=Path(state), timezone=TIMEZONE, server_name=SERVER)
        shipper = Shipper(settings, cluster=None)  # type: ignore[arg-type]  # _item sends nothing
        parser = EntryParser(TIMEZONE, SERVER)
        occ = _Occurrences()
        out = 0
        for e in iter_entries(io.BytesIO(data)):
            item = shipper._item(parser, PATH, "k", e, occ.next(e.data))[0]
            out += len(item.action) + len(item.body)
    return out


def native_batches(data: bytes) -> int:
    """What a batch-level Python side costs: per chunk its entry count, bytes and last end offset."""
    from shipper import _native

    r = _native.Reader(server=SERVER, zone=TIMEZONE, dataset="exim.main", path=PATH, index_prefix="exim")
    size = _native.RECORD_SIZE
    out = 0

    def take(bulk: bytes, records: bytes) -> int:
        count = len(records) // size
        # Records are 72 bytes, nine little-endian u64 words: the second is the entry's end.
        last_end = memoryview(records).cast("Q")[-8] if count else 0
        return len(bulk) + count + (last_end & 0)

    for i in range(0, len(data), CHUNK):
        out += take(*r.feed(data[i : i + CHUNK], i))
    return out + take(*r.finish())


def native_reader(data: bytes, *, loop: bool) -> int:
    from shipper import _native

    record = struct.Struct(_native.RECORD_FORMAT)
    r = _native.Reader(server=SERVER, zone=TIMEZONE, dataset="exim.main", path=PATH, index_prefix="exim")
    out = 0

    def take(bulk: bytes, records: bytes) -> int:
        if not loop:
            return len(bulk)
        n = pos = 0
        view = memoryview(bulk)
        for _off, end, bulk_len, action_len, _occ, _fl, _ts, _pid, _lid, _act in record.iter_unpack(records):
            action, body = view[pos : pos + action_len], view[pos + action_len + 1 : pos + bulk_len - 1]
            n += len(action) + len(body) + (end & 0)
            pos += bulk_len
        return n

    for i in range(0, len(data), CHUNK):
        out += take(*r.feed(data[i : i + CHUNK], i))
    return out + take(*r.finish())


def claimed_equal(data: bytes) -> tuple[int, int]:
    """(entries the core claimed, of them equal to Python's whole document as parsed JSON)."""
    import io

    import orjson

    from shipper import _native
    from shipper.exim.parse import EntryParser
    from shipper.files.reader import iter_entries
    from shipper.pipeline import Shipper, _Occurrences
    from shipper.settings import Settings

    record = struct.Struct(_native.RECORD_FORMAT)
    r = _native.Reader(server=SERVER, zone=TIMEZONE, dataset="exim.main", path=PATH, index_prefix="exim")
    docs: list[bytes | None] = []
    for bulk, records in [r.feed(data[i : i + CHUNK], i) for i in range(0, len(data), CHUNK)] + [r.finish()]:
        pos = 0
        for rec in record.iter_unpack(records):
            bulk_len, action_len, action = rec[2], rec[3], rec[-1]
            claimed = _native.ACTIONS[action] != "unrecognized"
            docs.append(bulk[pos + action_len + 1 : pos + bulk_len - 1] if claimed else None)
            pos += bulk_len
    with tempfile.TemporaryDirectory() as state:
        settings = Settings(state_dir=Path(state), timezone=TIMEZONE, server_name=SERVER)
        shipper = Shipper(settings, cluster=None)  # type: ignore[arg-type]  # _item sends nothing
        parser = EntryParser(TIMEZONE, SERVER)
        occ = _Occurrences()
        claimed = equal = 0
        for doc, e in zip(docs, iter_entries(io.BytesIO(data)), strict=True):
            item = shipper._item(parser, PATH, "k", e, occ.next(e.data))[0]
            if doc is not None:
                claimed += 1
                equal += orjson.loads(doc) == orjson.loads(item.body)
    return claimed, equal


def claimed_share(data: bytes) -> float:
    """The share of entries whose whole document the core made (action other than `unrecognized`)."""
    from shipper import _native

    record = struct.Struct(_native.RECORD_FORMAT)
    r = _native.Reader(server=SERVER, zone=TIMEZONE, dataset="exim.main", path=PATH, index_prefix="exim")
    batches = [r.feed(data[i : i + CHUNK], i) for i in range(0, len(data), CHUNK)] + [r.finish()]
    actions = [rec[-1] for _bulk, records in batches for rec in record.iter_unpack(records)]
    unrecognized = _native.ACTIONS.index("unrecognized")
    return sum(a != unrecognized for a in actions) / max(len(actions), 1)


def best(fn: Callable[[bytes], int], data: bytes, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - t0)
    return min(times), times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--lines", type=int, default=1_000_000, help="lines in the generated log (default 1000000)"
    )
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per row; the best counts (default 3)")
    ap.add_argument("--skip-whole", action="store_true", help="leave out the slow whole-parse Python row")
    ap.add_argument(
        "--equal",
        action="store_true",
        help="also count the claimed entries whose document equals Python's (parsed JSON)",
    )
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep a log generated by this run in bench/out/ for later runs (default: remove it)",
    )
    args = ap.parse_args(argv)
    try:
        from shipper import _native
    except ImportError:
        print("native_speed: shipper._native is not built (make native)", file=sys.stderr)
        return 1
    path, generated = ensure_log(args.lines, args.seed)
    data = path.read_bytes()
    if generated and not args.keep:
        path.unlink()
    lines = data.count(b"\n")
    print(
        f"log: {path.name} ({len(data) / 1e6:.1f} MB, {lines:,} lines), zone {TIMEZONE}, best of {args.runs}"
    )
    print(f"native core not yet ported: {_native.MISSING}")
    print(f"native core claims {claimed_share(data):.1%} of the entries (whole documents)")
    if args.equal:
        claimed, equal = claimed_equal(data)
        print(f"of them equal to Python's document (parsed JSON): {equal:,} of {claimed:,}")
    rows: list[tuple[str, Callable[[bytes], int]]] = [
        ("python, same work (assembly+prefix+id+json)", python_same_work),
        ("native (bytes out)", lambda d: native_reader(d, loop=False)),
        ("native + Python per batch (count, last end)", native_batches),
        ("native + Python loop over records", lambda d: native_reader(d, loop=True)),
    ]
    if not args.skip_whole:
        rows.insert(1, ("python, whole parse (Shipper._item)", python_whole))
    results: dict[str, float] = {}
    print(f"{'':46}{'lines/s':>12}  best s   (all runs)")
    for label, fn in rows:
        b, all_runs = best(fn, data, args.runs)
        results[label] = b
        runs = ", ".join(f"{t:.2f}" for t in all_runs)
        print(f"{label:46}{lines / b:>12,.0f}  {b:6.2f}   ({runs})")
    same = results["python, same work (assembly+prefix+id+json)"]
    print(
        f"speed-up, same work: native {same / results['native (bytes out)']:.1f}x, "
        f"native + Python loop {same / results['native + Python loop over records']:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
