"""Golden output of today's per-line path (entries, parse, enrich, bulk documents, message summaries):
recorded once, then checked against, so that a refactor or the native core can prove it changed nothing.

What is recorded, per corpus file, is what `backfill` of that one file into an empty cluster would send
and leave stored, produced by the shipper's own functions (nothing here re-implements them):

- every event as `Shipper._item` builds it: the entries of `sources.ArchiveSource` (the backfill reader:
  compression, syslog/journal unwrapping, continuations, the entry size cap, bad UTF-8 kept; an
  unterminated last line of a file that may still grow waits, as in backfill), `EntryParser.parse`,
  `enrich`, `log.file.path`/`log.offset`, the target index and the deterministic `_id`
  (`pipeline._Occurrences` counts byte-identical entries of one second, as the loop does);
- every message summary as the index holds it once all of the file's lines are in: the file's
  partials merged per message (`summaries.by_message`, an order-free merge, so batching does not
  matter) and written by `summaries.create_item` (index, `_id`, readable summary plus `merge_state`).

Each output line is `{"file", "kind": "event"|"summary", "action": <bulk action>, "doc": <body>}`, the
action and body parsed from the very bytes the shipper would send, with keys sorted (canonical JSON).
Comparison is as parsed JSON: key order and number spelling are not part of the contract.

Normalised, and why:
- `log.file.path` is the file's corpus label (`fixtures/fleet_a.log`), not the absolute path backfill
  sends: the checkout's location is not the parser's output.
- The machine's host name: backfill names the server `socket.gethostname()` when `server_name` is not
  set, and hashes it into every `_id`, so it cannot be replaced afterwards; the recording fixes it at
  the input instead, as HOST (with `server_name` unset, so a syslog record's own host name still wins
  as it does in a default deployment).
- The zone: a fixed IANA zone per corpus (UTC; Europe/London for the bench log, whose zone-less lines
  are that zone's wall clock and cross its spring-forward gap), not the machine's /etc/localtime.
- BSD syslog's year-less dates are read against the file's mtime (a checkout's time): fixed to
  SYSLOG_ANCHOR.
- The tests' quoted lines (`tables`) are written one line per file, named by the line's hash, since
  each test parses its line alone; a line added to or removed from the tests is not a difference (the
  lines both sides have are compared).
- Settings take their defaults (index prefix `exim`, input format `auto`), never the environment's.
Nothing else varies: nothing in the per-line path reads the clock. The event documents are
`exim-shipper parse`'s (same server name and zone), but for that path.

Corpora (CORPORA). Committed in full as tests/golden/<name>.ndjson.gz: `samples` (shipper/samples),
`fixtures` (the logs of tests/fixtures/, realworld, eximstats' extra.log, dashboards, fleet), `tables`
(the log lines the tests quote, see table_lines: test_line_types.CASES, test_seed_guide.SEED_LINES and
every literal entry in tests/, syslog and journal records too), `dst` (DST_LOG: Europe/Berlin's gap and
fold in one file) and
`seed-lines` (the log lines the seed guide ../shared/seeds/000_304dffdf2a9fc1c6.txt quotes, taken
out by seed_lines; SEED_LINES are the same lines as that test restored them). As per-file digests in
tests/golden/digests.json (counts, and the first 32 hex digits of the sha256 of the file's canonical
lines): `fixtures-large` (eximstats' generated mainlog.gz), `seed-guide`
(the raw guide, prose and all), `exim-testsuite` (../shared/corpus/exim-testsuite, the reject and
panic logs with their datasets) and `bench-20000`/`bench-100000` (bench/generate_mainlog.py --seed 1,
regenerated, never committed; the unit test checks the 20k one). Corpora under ../shared are skipped
when it is absent. digests.json names the commit each corpus was recorded on (`-dirty`: shipper/
had changes).

Usage:
    python tools/golden.py record [NAME...]         # rewrite tests/golden/ from the current code
    python tools/golden.py check [NAME...]          # compare the current code with tests/golden/
    python tools/golden.py record --full DIR        # also write every corpus's full output to DIR
    python tools/golden.py check --full-from DIR    # diff the digested corpora against DIR record by
                                                    # record, as parsed JSON, naming the fields

The digested corpora's full output, to diff against when a digest differs, is regenerated from the
commit digests.json names for it (the tool puts its own checkout first on sys.path, so the ref's shipper runs
with this checkout's venv):
    git worktree add --detach ../golden-ref <commit>     # beside ../shared, which it reads too
    .venv/bin/python ../golden-ref/tools/golden.py record --full /tmp/golden-full --no-write
    .venv/bin/python tools/golden.py check --full-from /tmp/golden-full
    git worktree remove ../golden-ref
(--shared DIR names the ../shared tree when a checkout is elsewhere.)
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import importlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: the shipper and tests packages of this checkout

from shipper.exim.parse import EntryParser  # noqa: E402
from shipper.files.archive import dataset_for  # noqa: E402
from shipper.files.identity import identify  # noqa: E402
from shipper.files.reader import ENTRY_START  # noqa: E402
from shipper.messages import Partial  # noqa: E402
from shipper.opensearch import summaries  # noqa: E402
from shipper.pipeline import Shipper, _Occurrences  # noqa: E402
from shipper.settings import Settings  # noqa: E402
from shipper.sources import ArchiveSource  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
DIGESTS = GOLDEN / "digests.json"
SHARED = ROOT.parent / "shared"
HOST = "golden-host.example"
SYSLOG_ANCHOR = 1767225600.0  # 2026-01-01T00:00:00Z
BENCH_SEED = 1
BENCH_LINES = 20_000  # the unit test's size (about 3 s)
BENCH_SIZES = (BENCH_LINES, 100_000)
TABLES = ("tests.unit.test_line_types", "tests.unit.test_seed_guide")
_STAMP = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")

Record = dict[str, Any]


@dataclass(frozen=True)
class Input:
    """One file of a corpus: its label (the normalised log.file.path) and where it is now."""

    label: str
    path: Path
    dataset: str | None = None  # the parser's dataset when the file name does not tell it


@dataclass(frozen=True)
class Corpus:
    name: str
    inputs: Callable[[Path], list[Input]]
    """The corpus's files; the argument is a scratch directory for files made on the fly."""
    full: bool
    """Committed in full (tests/golden/<name>.ndjson.gz), else as per-file digests."""
    zone: str = "UTC"
    shared: bool = False
    """Needs ../shared."""
    keyed: bool = False
    """A line table: files named by content, so added or removed lines are not differences."""


# --- running today's per-line path -----------------------------------------------------------------


def _shipper(zone: str) -> Shipper:
    """A Shipper with its settings and server name but no state directory or cluster: only its per-line
    methods (`_item`, `_assembler`) are used."""
    sh = Shipper.__new__(Shipper)
    sh.settings = Settings(
        server_name="",
        timezone=zone,
        index_prefix="exim",
        input_format="auto",
        syslog_programs=["exim", "exim4"],
    )
    sh.server = HOST
    sh.zone = zone
    return sh


def run_file(item: Input, zone: str) -> list[Record]:
    """The events and summaries backfill would send for one file, canonical and normalised."""
    sh = _shipper(zone)
    path = item.path
    source = ArchiveSource(path, identify(path), 0, lambda head, _mtime: sh._assembler(head, SYSLOG_ANCHOR))
    parser = EntryParser(zone, sh.server, dataset=item.dataset or dataset_for(path))
    occurrences = _Occurrences()
    parts: list[Partial] = []
    out: list[Record] = []
    try:
        while not source.caught_up:
            for entry in source.poll(0.0, 0.0):
                occ = occurrences.next(entry.data)
                bulk_item, entry_parts = sh._item(parser, source.path, source.key, entry, occ)
                parts.extend(entry_parts)
                doc = orjson.loads(bulk_item.body)
                doc["log"]["file"]["path"] = item.label
                out.append(_record(item.label, "event", bulk_item.action, doc))
    finally:
        source.close()
    merged = summaries.by_message(parts)
    for key in sorted(merged):
        s = summaries.create_item("exim", key, merged[key])
        out.append(_record(item.label, "summary", s.action, orjson.loads(s.body)))
    return out


def _record(label: str, kind: str, action: bytes, doc: Any) -> Record:
    return {"file": label, "kind": kind, "action": orjson.loads(action), "doc": doc}


def canonical(record: Record) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


# --- corpora ---------------------------------------------------------------------------------------


def _tree(base: Path, prefix: str, *, skip: Callable[[Path], bool] = lambda p: False) -> list[Input]:
    return [
        Input(f"{prefix}/{p.relative_to(base).as_posix()}", p)
        for p in sorted(base.rglob("*"))
        if p.is_file() and not skip(p)
    ]


def _samples(_scratch: Path) -> list[Input]:
    return _tree(
        ROOT / "shipper" / "samples", "samples", skip=lambda p: p.suffix == ".py" or p.name.startswith("_")
    )


# Generated by bench/generate_mainlog.py: its output is too large to commit in full, as the bench log's.
_LARGE_FIXTURES = ("eximstats/mainlog.gz",)


def _fixture_logs() -> list[Input]:
    # The logs only: the fixtures' READMEs, provenance notes, eximstats' report and cluster responses are not.
    not_logs = {".md", ".json", ".txt"}
    return _tree(
        ROOT / "tests" / "fixtures", "fixtures", skip=lambda p: p.suffix in not_logs or p.name == "SOURCE"
    )


def _fixtures(_scratch: Path) -> list[Input]:
    return [i for i in _fixture_logs() if i.label.removeprefix("fixtures/") not in _LARGE_FIXTURES]


def _fixtures_large(_scratch: Path) -> list[Input]:
    return [i for i in _fixture_logs() if i.label.removeprefix("fixtures/") in _LARGE_FIXTURES]


def table_lines() -> list[bytes]:
    """The log lines the tests quote: every string or bytes literal of tests/**/test_*.py that starts
    as a log entry does (read from the source, not run), and the rows of the module-level tables
    of TABLES, whose lines are f-strings (imported)."""
    out: list[bytes] = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if path.name == "test_golden.py":
            continue
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                value = node.value
                out.append(value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value)
    for module_name in TABLES:
        module = importlib.import_module(module_name)
        for _name, value in sorted(vars(module).items()):
            if isinstance(value, list):
                out += [
                    row[0].encode()
                    for row in value
                    if isinstance(row, tuple) and row and isinstance(row[0], str)
                ]
    return [line for line in dict.fromkeys(out) if _quoted_entry(line)]


def _quoted_entry(text: bytes) -> bool:
    """Whether a test's literal is a log line: it starts as an entry does (reader.ENTRY_START: Exim's
    timestamp, a syslog record's), a journal object only when it holds a MESSAGE."""
    if ENTRY_START.match(text) is None or len(text) <= len(b"2025-01-31 10:00:00"):
        return False
    return not text.lstrip(b"\x1e").startswith(b"{") or b'"MESSAGE"' in text


def _tables(scratch: Path) -> list[Input]:
    out: list[Input] = []
    for line in table_lines():
        name = hashlib.sha256(line).hexdigest()[:16]
        path = scratch / name
        path.write_bytes(line.removesuffix(b"\n") + b"\n")
        out.append(Input(f"tables/{name}", path))
    return sorted(out, key=lambda i: i.label)


SEED_GUIDE = ("seeds", "000_304dffdf2a9fc1c6.txt")


def seed_lines(text: bytes) -> list[bytes]:
    """The guide's quoted log lines: each run of text from an Exim timestamp to the next one or the end of
    its physical line. What comes before the first (a shell prompt, a list number) is the guide's, and
    lines the guide pasted together on one line are taken apart; a bare timestamp is not a log line."""
    out: list[bytes] = []
    for line in text.split(b"\n"):
        starts = [m.start() for m in _STAMP.finditer(line)]
        if not starts:
            continue
        for begin, end in zip(starts, [*starts[1:], len(line)], strict=True):
            piece = line[begin:end].rstrip()
            if len(piece) > len(b"2014-08-10 03:27:11"):
                out.append(piece)
    return out


def _seed_lines(scratch: Path) -> list[Input]:
    path = scratch / "seed-lines.log"
    path.write_bytes(b"\n".join(seed_lines(SHARED.joinpath(*SEED_GUIDE).read_bytes())) + b"\n")
    return [Input("seeds/lines.log", path)]


def _seed_raw(_scratch: Path) -> list[Input]:
    return [Input("seeds/" + SEED_GUIDE[1], SHARED.joinpath(*SEED_GUIDE))]


def _testsuite(_scratch: Path) -> list[Input]:
    base = SHARED / "corpus" / "exim-testsuite"
    out: list[Input] = []
    for kind, dataset in (("mainlog", "exim.main"), ("rejectlog", "exim.reject"), ("paniclog", "exim.panic")):
        out += [Input(f"{kind}/{p.name}", p, dataset) for p in sorted((base / kind).iterdir()) if p.is_file()]
    return out


# Europe/Berlin's 2025 changes, which no other corpus has in order: the spring gap (02:00-03:00 does not
# exist) and the autumn fold (02:00-03:00 twice), with byte-identical entries in one second and in the
# same local second of both passes (told apart by the occurrence count and the second-pass id).
DST_LOG = b"""\
2025-03-30 01:59:59 Start queue run: pid=100
2025-03-30 02:30:00 Start queue run: pid=101
2025-03-30 03:00:00 End queue run: pid=101
2025-03-30 03:00:00.250 +0200 End queue run: pid=100
2025-10-26 01:59:59 1tXaaa-00000001abc-0ABC <= a@example.com H=(h) [192.0.2.1] P=esmtp S=100 for b@example.net
2025-10-26 02:00:00 Start queue run: pid=200
2025-10-26 02:00:00 Start queue run: pid=200
2025-10-26 02:30:00 1tXaaa-00000001abc-0ABC == b@example.net R=dnslookup T=smtp defer (-53): retry time
2025-10-26 02:59:59 End queue run: pid=200
2025-10-26 02:00:00 Start queue run: pid=200
2025-10-26 02:00:00.500 +0100 Start queue run: pid=201
2025-10-26 02:30:00 1tXaaa-00000001abc-0ABC => b@example.net R=dnslookup T=smtp H=mx.example.net [203.0.113.5]
2025-10-26 02:30:00 1tXaaa-00000001abc-0ABC Completed
2025-10-26 02:59:59 End queue run: pid=200
2025-10-26 03:00:01 Start queue run: pid=202
"""


def _dst(scratch: Path) -> list[Input]:
    path = scratch / "exim_mainlog"
    path.write_bytes(DST_LOG)
    return [Input("dst/exim_mainlog", path)]


def bench_log(scratch: Path, lines: int) -> Path:
    """bench/generate_mainlog.py's log of `lines` lines (fixed seed), made in `scratch`."""
    path = scratch / f"exim_mainlog-{lines}"
    if not path.exists():
        cmd = [sys.executable, str(ROOT / "bench" / "generate_mainlog.py"), str(path), "--lines", str(lines)]
        subprocess.run([*cmd, "--seed", str(BENCH_SEED)], check=True)
    return path


def _bench(lines: int) -> Callable[[Path], list[Input]]:
    def inputs(scratch: Path) -> list[Input]:
        return [Input(f"bench/exim_mainlog-{lines}", bench_log(scratch, lines))]

    return inputs


CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in (
        Corpus("samples", _samples, full=True),
        Corpus("fixtures", _fixtures, full=True),
        Corpus("fixtures-large", _fixtures_large, full=False),
        Corpus("tables", _tables, full=True, keyed=True),
        Corpus("dst", _dst, full=True, zone="Europe/Berlin"),
        Corpus("seed-lines", _seed_lines, full=True, shared=True),
        Corpus("seed-guide", _seed_raw, full=False, shared=True),
        Corpus("exim-testsuite", _testsuite, full=False, shared=True),
        *(Corpus(f"bench-{n}", _bench(n), full=False, zone="Europe/London") for n in BENCH_SIZES),
    )
}


def available(corpus: Corpus) -> bool:
    return not corpus.shared or SHARED.is_dir()


# --- golden files ----------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(records: list[Record]) -> str:
    """sha256 of the canonical lines, its first 32 hex digits (a check, not a seal)."""
    return _sha256(b"".join(canonical(r) + b"\n" for r in records))[:32]


def _inputs_digest(items: list[Input]) -> str:
    return _sha256(b"".join(f"{i.label}\0{_sha256(i.path.read_bytes())}\n".encode() for i in items))[:32]


def file_entry(corpus: Corpus, item: Input, records: list[Record]) -> dict[str, Any]:
    """A file's line in digests.json: its counts, and its output's digest (or, when the output is
    committed in full, its input's, to tell a changed fixture from a changed parser)."""
    summaries = sum(1 for r in records if r["kind"] == "summary")
    entry: dict[str, Any] = {"events": len(records) - summaries, "summaries": summaries}
    if corpus.full:
        entry["input"] = _sha256(item.path.read_bytes())[:16]
    else:
        entry["sha256"] = digest(records)
    return entry


def full_path(name: str, base: Path = GOLDEN) -> Path:
    return base / f"{name}.ndjson.gz"


def write_full(path: Path, records: list[Record]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(canonical(r) + b"\n" for r in records)
    # mtime=0 and no file name: the same output gives the same bytes, so git sees no change.
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(data)


def read_full(path: Path) -> list[Record]:
    with gzip.open(path, "rb") as gz:
        return [orjson.loads(line) for line in gz.read().splitlines() if line]


def _commit() -> str:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "shipper"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    commit = head.stdout.strip()
    return commit + ("-dirty" if dirty.stdout.strip() else "")


def record(names: list[str], full_dir: Path | None, *, write: bool = True) -> None:
    """Run every named corpus; rewrite tests/golden/ (unless `write` is false) and, with `full_dir`,
    write each corpus's full output there too."""
    manifest: dict[str, Any] = orjson.loads(DIGESTS.read_bytes()) if DIGESTS.exists() else {}
    commit = _commit()
    manifest.pop("commit", None)  # each corpus names its own: they may be recorded apart
    manifest["host"], manifest["syslog_anchor"] = HOST, SYSLOG_ANCHOR
    corpora = manifest.setdefault("corpora", {})
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        for name in names:
            corpus = CORPORA[name]
            if not available(corpus):
                print(f"golden: {name}: skipped, {SHARED} is absent", file=sys.stderr)
                continue
            scratch = Path(tmp) / name
            scratch.mkdir()
            items = corpus.inputs(scratch)
            files: dict[str, Any] = {}
            everything: list[Record] = []
            for item in items:
                records = run_file(item, corpus.zone)
                files[item.label] = file_entry(corpus, item, records)
                everything += records
            corpora[name] = {
                "commit": commit,
                "zone": corpus.zone,
                "full": corpus.full,
                "inputs": _inputs_digest(items),
                "files": files,
            }
            if corpus.full and write:
                write_full(full_path(name), everything)
            if full_dir is not None:
                write_full(full_path(name, full_dir), everything)
            events = sum(f["events"] for f in files.values())
            print(f"golden: {name}: {len(files)} files, {events} events", file=sys.stderr)
    if write:
        DIGESTS.parent.mkdir(parents=True, exist_ok=True)
        DIGESTS.write_bytes(_manifest_bytes(manifest))


def _manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """digests.json: indented down to the corpora, one line per file, so a re-record's diff is per file."""
    opts = orjson.OPT_SORT_KEYS
    head = {k: v for k, v in manifest.items() if k != "corpora"}
    lines = [b"{"]
    lines += [b"  %s: %s," % (orjson.dumps(k), orjson.dumps(v, option=opts)) for k, v in sorted(head.items())]
    lines.append(b'  "corpora": {')
    corpora = manifest["corpora"]
    for n, name in enumerate(sorted(corpora)):
        corpus = corpora[name]
        lines.append(b"    %s: {" % orjson.dumps(name))
        lines += [
            b"      %s: %s," % (orjson.dumps(k), orjson.dumps(v))
            for k, v in sorted(corpus.items())
            if k != "files"
        ]
        lines.append(b'      "files": {')
        files = corpus["files"]
        rows = [
            b"        %s: %s" % (orjson.dumps(label), orjson.dumps(files[label], option=opts))
            for label in sorted(files)
        ]
        lines.append(b",\n".join(rows))
        lines.append(b"      }")
        lines.append(b"    }" + (b"," if n < len(corpora) - 1 else b""))
    lines += [b"  }", b"}", b""]
    return b"\n".join(lines)


# --- checking --------------------------------------------------------------------------------------

MAX_SHOWN = 5


def _flat(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{path}.{k}" if path else str(k)))
        return out
    return {path: value}


def describe(golden: Record | None, current: Record | None) -> str:
    """A readable difference of two records: the fields that differ, golden value -> current value."""
    if golden is None or current is None:
        present = golden if current is None else current
        assert present is not None
        side = "only in golden" if current is None else "only in current output"
        return f"{side}: {canonical(present).decode()[:600]}"
    g, c = _flat(golden), _flat(current)
    lines = []
    for key in sorted(set(g) | set(c)):
        if g.get(key, ...) != c.get(key, ...):
            gv = "<absent>" if key not in g else orjson.dumps(g[key]).decode()
            cv = "<absent>" if key not in c else orjson.dumps(c[key]).decode()
            lines.append(f"    {key}: {gv[:200]} -> {cv[:200]}")
    head = f"{golden['kind']} {orjson.dumps(golden['action']).decode()}"
    original = golden["doc"].get("event", {}).get("original") if golden["kind"] == "event" else None
    if original is not None:
        head += f"\n    entry: {original[:300]!r}"
    return head + "\n" + "\n".join(lines)


def _key(record: Record) -> tuple[str, str, int | str]:
    """What pairs a golden record with a current one: an event by its file and offset (so an entry
    split or joined differently shows as such, not as every later record shifted), a summary by its id."""
    if record["kind"] == "event":
        return record["file"], "event", record["doc"].get("log", {}).get("offset", -1)
    return record["file"], "summary", str(record["action"].get("create", {}).get("_id"))


def compare(golden: list[Record], current: list[Record]) -> list[str]:
    """The differences of two outputs as parsed JSON, for the files both have, in golden order; at most
    MAX_SHOWN records are described, the rest counted."""
    files = {r["file"] for r in golden} & {r["file"] for r in current}
    mine = {_key(r): r for r in current if r["file"] in files}
    theirs = {_key(r): r for r in golden if r["file"] in files}
    order = list(theirs) + [k for k in mine if k not in theirs]
    problems: list[str] = []
    differing = 0
    for key in order:
        g, c = theirs.get(key), mine.get(key)
        if g != c:
            differing += 1
            if differing <= MAX_SHOWN:
                where = f"offset {key[2]}" if key[1] == "event" else "summary"
                problems.append(f"{key[0]} {where}: {describe(g, c)}")
    if differing > MAX_SHOWN:
        problems.append(f"... and {differing - MAX_SHOWN} more differing records")
    return problems


@dataclass
class Result:
    """One corpus checked: `problems` are differences of output; `notes` what could not be compared
    (a file recorded or added since, a changed input), which fails nothing."""

    problems: list[str]
    notes: list[str]

    def report(self) -> str:
        return "\n".join(self.problems + [f"note: {n}" for n in self.notes])


def check_corpus(name: str, scratch: Path, full_from: Path | None = None) -> Result:
    """The current code's differences from the golden files for one corpus.

    A corpus committed in full is compared record by record as parsed JSON; a digested one by its
    per-file digests, or record by record against `full_from` (a `record --full` directory).
    """
    corpus = CORPORA[name]
    manifest = orjson.loads(DIGESTS.read_bytes())
    recorded = manifest["corpora"].get(name)
    if recorded is None:
        return Result([f"{name}: not recorded in {DIGESTS.relative_to(ROOT)}"], [])
    items = corpus.inputs(scratch)
    files = recorded["files"]
    current: list[Record] = []
    problems: list[str] = []
    notes: list[str] = []
    for item in items:
        records = run_file(item, corpus.zone)
        current += records
        entry = files.get(item.label)
        if entry is None:
            continue
        now = file_entry(corpus, item, records)
        if corpus.full:
            if now["input"] != entry["input"]:
                notes.append(f"{item.label}: the input changed since recording (re-record if intended)")
        elif full_from is None and now != entry:
            counts = ", ".join(f"{k} {entry[k]} -> {now[k]}" for k in ("events", "summaries"))
            problems.append(f"{item.label}: output differs from its digest ({counts})")
    labels = {i.label for i in items}
    if not set(files) & labels:
        problems.append("none of the recorded files is in the corpus now: nothing was compared")
    if not corpus.keyed:
        notes += [f"{label}: recorded, but not in the corpus now" for label in sorted(set(files) - labels)]
        notes += [
            f"{label}: new, not in the golden files (record it)" for label in sorted(labels - set(files))
        ]
    if not corpus.full and recorded["inputs"] != _inputs_digest(items):
        notes.append("the corpus's files changed since recording")
    reference = full_path(name, full_from or GOLDEN)
    if (corpus.full or full_from is not None) and not reference.exists():
        problems.append(f"{reference}: no such file (was it recorded with ../shared present?)")
    elif corpus.full or full_from is not None:
        problems += compare(read_full(reference), current)
    elif problems:
        problems.append(
            f"for a field-level diff, regenerate the full output at commit {recorded['commit']} and run "
            f"`tools/golden.py check --full-from DIR {name}` (see tools/golden.py's docstring)"
        )
    return Result([f"{name}: {p}" for p in problems], [f"{name}: {n}" for n in notes])


def main(argv: list[str] | None = None) -> int:
    global SHARED  # noqa: PLW0603 - where the corpora under ../shared are, read when they are listed
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="rewrite tests/golden/ from the current code")
    rec.add_argument("names", nargs="*", help=f"corpora (default all: {', '.join(CORPORA)})")
    rec.add_argument("--full", type=Path, metavar="DIR", help="also write every corpus's full output to DIR")
    rec.add_argument("--no-write", action="store_true", help="leave tests/golden/ as it is (with --full)")
    chk = sub.add_parser("check", help="compare the current code's output with tests/golden/")
    chk.add_argument("names", nargs="*", help="corpora (default all)")
    chk.add_argument(
        "--full-from", type=Path, metavar="DIR", help="full outputs (record --full) to diff against"
    )
    for p in (rec, chk):
        p.add_argument("--shared", type=Path, metavar="DIR", help=f"the ../shared tree (default {SHARED})")
    args = ap.parse_args(argv)
    if args.shared is not None:
        SHARED = args.shared.resolve()
    names = args.names or list(CORPORA)
    unknown = [n for n in names if n not in CORPORA]
    if unknown:
        ap.error(f"unknown corpus: {', '.join(unknown)} (known: {', '.join(CORPORA)})")
    if args.command == "record":
        record(names, args.full, write=not args.no_write)
        return 0
    failed = False
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        for name in names:
            if not available(CORPORA[name]):
                print(f"golden: {name}: skipped, {SHARED} is absent")
                continue
            scratch = Path(tmp) / name
            scratch.mkdir()
            result = check_corpus(name, scratch, args.full_from)
            failed |= bool(result.problems)
            print(result.report() if result.problems else f"golden: {name}: same output")
            if not result.problems and result.notes:
                print(result.report())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
