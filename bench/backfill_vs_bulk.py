"""Issue 11's end-to-end target: `exim-shipper backfill` of a log into the local node against a raw
`_bulk` loader of the same documents, on the same node (target: backfill >= 0.9x the loader's docs/s).

    .venv/bin/python bench/backfill_vs_bulk.py                    # 200,000-line log, best of 3
    .venv/bin/python bench/backfill_vs_bulk.py --lines 1000000 --runs 3
    .venv/bin/python bench/backfill_vs_bulk.py --log FILE --url http://127.0.0.1:PORT

Without --url it starts a node on free loopback ports (tools/local_opensearch.py, as bench_node does)
and stops it at the end; it never touches port 9200. Every run writes into a fresh index prefix whose
templates `setup` installed first (untimed), and the prefix is dropped after the run (untimed).

1. A first backfill into the prefix `bvbsrc` (untimed; it also warms up the node's JIT). What it
   stored, events and message summaries, is read back (`_source`, `_index`, `_id`, sliced scrolls)
   and becomes the loader's documents: every event as the `create` backfill sent, every message's
   final summary as one `create` into the loader's own messages indices. Events are put back in log
   order (`log.offset`), then cut into batches as `Batcher` cuts them (`batch_max_docs` documents or
   `batch_max_bytes` bytes); the summaries are spread evenly over those batches, riding in the same
   requests as the events, as `Delivery` sends a batch's summary `create`s with its events. All the
   NDJSON bodies are built in memory before the timing.
2. Then, interleaved (the order swapped every round), N rounds of
   (a) `exim-shipper backfill FILE` as a user runs it: a process (.venv/bin/exim-shipper), default
       batch size, one request in flight (`Sender`) and the other defaults (no gzip: the node is on
       loopback, see `connection.compressed`; `--env EXIM_SHIPPER_HTTP_COMPRESS=true` for gzip), a
       fresh state directory; the time runs from the process's start to its exit plus a refresh;
   (b) the raw loader: the prebuilt bodies POSTed to `/_bulk` one after another (one request in
       flight) on one keep-alive `http.client` connection, no compression; the time runs from the
       first request to the last answer plus a refresh.
   Each ends when the documents are searchable: `_refresh`, then `_count` of the prefix's events and
   messages must equal the source's (else the run is reported as failed).

The summaries are part of backfill's work: `Delivery` writes them in the same `_bulk` requests as the
events (a `create` per message, and a `_mget` + `index` with `if_seq_no` for a message already stored
by an earlier batch). The loader writes each message's final summary once; whatever backfill writes
beyond that (a message's summary sent again when it spans more than `summary_window` of log) is
backfill's own cost and counts against it. The closing table's `summaries` column (summary writes)
is printed beside the number of summary documents.

Prints per run and for the best of each: seconds, documents, docs/s, and the ratio backfill/loader.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import bench_node  # noqa: E402 - bench/ is a folder of scripts
import parse_speed  # noqa: E402

from shipper.settings import Settings  # noqa: E402

SOURCE_PREFIX = "bvbsrc"
TIMEZONE = "Europe/London"
SERVER = "bench"


class Node:
    """A minimal client of the node: one keep-alive HTTP connection, orjson both ways."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 9200, timeout=300)

    def call(self, method: str, path: str, body: bytes | None = None, ndjson: bool = False) -> Any:
        headers = {"Content-Type": "application/x-ndjson" if ndjson else "application/json"}
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status >= 300 and not (method == "DELETE" and resp.status == 404):
            raise RuntimeError(f"{method} {path}: HTTP {resp.status} {data[:300]!r}")
        return orjson.loads(data) if data else None

    def stored(self, prefix: str) -> int:
        """Refresh the prefix's indices, then count their documents."""
        self.call("POST", f"/{prefix}-*/_refresh")
        return int(self.call("GET", f"/{prefix}-*/_count")["count"])

    def close(self) -> None:
        self.conn.close()


def node_cpu(data: Path | None) -> float:
    """CPU seconds the node this script started has used so far (0 for a node given by --url)."""
    if data is None:
        return 0.0
    pid = int((data / "opensearch.pid").read_text())
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def set_up(url: str, prefix: str) -> None:
    """The prefix's templates, as `exim-shipper setup` installs them (backfill only checks them)."""
    from opensearchpy import OpenSearch

    from shipper.opensearch import provision
    from shipper.opensearch.connection import OpenSearchCluster

    provision.setup(OpenSearchCluster(OpenSearch([url], timeout=120)), prefix, "30d")


def drop(url: str, prefix: str) -> None:
    """The prefix's indices and templates."""
    node = Node(url)
    node.call("DELETE", f"/{prefix}-*?expand_wildcards=all")
    for kind in ("events", "messages"):
        node.call("DELETE", f"/_index_template/{prefix}-{kind}")
    for kind in ("ecs-base", "events", "messages"):
        node.call("DELETE", f"/_component_template/{prefix}-{kind}")
    node.close()


@dataclass(frozen=True)
class Backfill:
    seconds: float
    docs: int
    summary_writes: int
    cpu_s: float


def backfill(log: Path, url: str, prefix: str, work: Path, extra: dict[str, str]) -> Backfill:
    """`exim-shipper backfill` of the log into `prefix`, a process of its own, timed to searchable."""
    state = work / f"state-{prefix}"
    env = {**os.environ, **extra, "EXIM_SHIPPER_STATE_DIR": str(state)}
    cmd = [
        str(ROOT / ".venv" / "bin" / "exim-shipper"),
        "backfill",
        str(log),
        "--opensearch-url",
        url,
        "--index-prefix",
        prefix,
        "--timezone",
        TIMEZONE,
        "--server-name",
        SERVER,
        "--quiet",
    ]
    node = Node(url)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    docs = node.stored(prefix)
    seconds = time.perf_counter() - t0
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"backfill failed:\n{stderr}")
    node.close()
    shutil.rmtree(state, ignore_errors=True)
    row = next(line for line in stderr.splitlines() if line.startswith(log.name + " ")).split()
    return Backfill(seconds, docs, int(row[-1].replace(",", "")), usage.ru_utime + usage.ru_stime)


def scroll(node: Node, pattern: str) -> Iterator[dict[str, Any]]:
    """Every hit of the indices `pattern` (a plain scroll in `_doc` order)."""
    query = orjson.dumps({"size": 5000, "sort": ["_doc"]})
    page = node.call("POST", f"/{pattern}/_search?scroll=5m", query)
    while page["hits"]["hits"]:
        yield from page["hits"]["hits"]
        body = orjson.dumps({"scroll": "5m", "scroll_id": page["_scroll_id"]})
        page = node.call("POST", "/_search/scroll", body)
    node.call("DELETE", "/_search/scroll", orjson.dumps({"scroll_id": [page["_scroll_id"]]}))


def _item(hit: dict[str, Any], prefix: str) -> bytes:
    index = prefix + hit["_index"][len(SOURCE_PREFIX) :]
    action = orjson.dumps({"create": {"_index": index, "_id": hit["_id"]}})
    return action + b"\n" + orjson.dumps(hit["_source"]) + b"\n"


@dataclass(frozen=True)
class Loaded:
    """The source's documents as the loader's bodies of one prefix."""

    bodies: list[bytes]
    events: int
    summaries: int


def prebuild(url: str, prefix: str, settings: Settings) -> Loaded:
    """What backfill stored under SOURCE_PREFIX, as `_bulk` bodies for `prefix`: events in log order cut
    as Batcher cuts them, the summaries spread evenly over the batches (see the module's docstring)."""
    node = Node(url)
    # One page of parsed hits at a time: a million documents as dicts would not fit in memory.
    by_offset = sorted(
        (h["_source"]["log"]["offset"], _item(h, prefix)) for h in scroll(node, f"{SOURCE_PREFIX}-events-*")
    )
    events = [item for _, item in by_offset]
    del by_offset
    summaries = [_item(h, prefix) for h in scroll(node, f"{SOURCE_PREFIX}-messages-*")]
    node.close()
    batches: list[list[bytes]] = [[]]
    size = 0
    for item in events:
        if len(batches[-1]) >= settings.batch_max_docs or size >= settings.batch_max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += len(item) - 2  # Batcher counts the two lines without their newlines
    per = -(-len(summaries) // len(batches))
    bodies = [b"".join(b + summaries[i * per : (i + 1) * per]) for i, b in enumerate(batches)]
    return Loaded(bodies, len(events), len(summaries))


def load(url: str, loaded: Loaded, prefix: str) -> float:
    """POST the bodies one after another, then refresh: seconds until the documents are searchable."""
    node = Node(url)
    t0 = time.perf_counter()
    for body in loaded.bodies:
        resp = node.call("POST", "/_bulk?filter_path=errors,items.*.error", body, ndjson=True)
        if resp.get("errors"):
            raise SystemExit(f"the raw loader's documents were refused: {str(resp)[:500]}")
    docs = node.stored(prefix)
    seconds = time.perf_counter() - t0
    node.close()
    expected = loaded.events + loaded.summaries
    if docs != expected:
        raise SystemExit(f"the raw loader stored {docs:,} documents of {expected:,}")
    return seconds


def retarget(loaded: Loaded, old: str, new: str) -> Loaded:
    """The same bodies for another prefix (indices named `<prefix>-events-…`, `<prefix>-messages-…`)."""
    a, b = f'"_index":"{old}-'.encode(), f'"_index":"{new}-'.encode()
    return Loaded([body.replace(a, b) for body in loaded.bodies], loaded.events, loaded.summaries)


def _rate(docs: int, seconds: float) -> str:
    return f"{docs:,} docs in {seconds:.2f} s = {docs / seconds:,.0f} docs/s"


def measure(log: Path, url: str, data: Path | None, work: Path, *, runs: int, extra: dict[str, str]) -> int:
    settings = Settings()  # the defaults backfill runs with (and EXIM_SHIPPER_* of the environment)
    print(f"log: {log}; node {url}; batch {settings.batch_max_docs} docs / {settings.batch_max_bytes} bytes")
    set_up(url, SOURCE_PREFIX)
    if extra:
        print(f"backfill's environment adds {extra}")
    src = backfill(log, url, SOURCE_PREFIX, work, extra)
    print(f"source backfill (untimed warm-up): {_rate(src.docs, src.seconds)}")
    loaded = prebuild(url, "bvbraw", settings)
    drop(url, SOURCE_PREFIX)
    expected = loaded.events + loaded.summaries
    if expected != src.docs:
        raise SystemExit(f"read back {expected:,} documents of the {src.docs:,} stored")
    raw_bytes = sum(map(len, loaded.bodies))
    print(
        f"loader documents (read back from the source backfill): {loaded.events:,} events + "
        f"{loaded.summaries:,} summaries in {len(loaded.bodies):,} bodies, {raw_bytes / 2**20:,.1f} MiB; "
        f"backfill wrote summaries {src.summary_writes:,} times"
    )
    best_bf = best_raw = float("inf")
    for n in range(runs):
        took: dict[str, float] = {}
        order = ("raw", "backfill") if n % 2 == 0 else ("backfill", "raw")
        for kind in order:
            prefix = f"bvb{kind[:3]}{n}"
            set_up(url, prefix)
            cpu0 = node_cpu(data)
            if kind == "raw":
                seconds = load(url, retarget(loaded, "bvbraw", prefix), prefix)
                best_raw = min(best_raw, seconds)
                took[kind] = seconds
                used = node_cpu(data) - cpu0
                print(f"  round {n + 1} raw loader: {_rate(expected, seconds)} (node CPU {used:.1f} s)")
            else:
                run = backfill(log, url, prefix, work, extra)
                if run.docs != expected:
                    raise SystemExit(f"backfill stored {run.docs:,} documents, the source {expected:,}")
                best_bf = min(best_bf, run.seconds)
                took[kind] = run.seconds
                print(
                    f"  round {n + 1} backfill:   {_rate(run.docs, run.seconds)} (node CPU "
                    f"{node_cpu(data) - cpu0:.1f} s, backfill's CPU {run.cpu_s:.1f} s, summary writes "
                    f"{run.summary_writes:,})"
                )
            drop(url, prefix)
        # On a shared machine the pair of one round saw the same load: its ratio is the steadier one.
        print(f"  round {n + 1} ratio backfill / raw loader: {took['raw'] / took['backfill']:.2f}")
    print(f"best of {runs}, documents searchable (events + summaries, {expected:,}):")
    print(f"  exim-shipper backfill: {_rate(expected, best_bf)}")
    print(f"  raw _bulk loader:      {_rate(expected, best_raw)}")
    print(f"  ratio backfill / raw loader: {best_raw / best_bf:.2f} (target >= 0.9)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000, help="generated log's lines (default 200,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log", type=Path, help="this log instead of a generated one")
    ap.add_argument("--runs", type=int, default=3, help="rounds, best of (default 3)")
    ap.add_argument("--url", help="a running node to use instead of starting one (never :9200's)")
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="add to backfill's environment, e.g. EXIM_SHIPPER_HTTP_COMPRESS=false (repeatable)",
    )
    args = ap.parse_args(argv)
    extra = dict(e.split("=", 1) for e in args.env)
    log = args.log.resolve() if args.log else parse_speed.ensure_log(args.lines, args.seed)[0]
    url, data = bench_node.start(args.url)
    work = Path(tempfile.mkdtemp(prefix="exim-shipper-bvb-"))
    try:
        return measure(log, url, data, work, runs=args.runs, extra=extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        bench_node.stop(data)


if __name__ == "__main__":
    raise SystemExit(main())
