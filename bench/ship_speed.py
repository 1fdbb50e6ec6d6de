"""End-to-end benchmark: backfill into a real OpenSearch vs. a raw `_bulk` loader of the same documents."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import bench_node  # noqa: E402 - bench/ is a folder of scripts
import parse_speed  # noqa: E402


def raw_loader(url: str, ndjson: Path, batch: int, prefix: str) -> tuple[float, int]:
    """Send prebuilt action+document lines in `batch`-sized `_bulk` requests; the baseline."""
    from opensearchpy import OpenSearch

    from shipper.opensearch import provision
    from shipper.opensearch.connection import OpenSearchCluster

    client = OpenSearch([url], timeout=120)
    provision.setup(OpenSearchCluster(client), prefix, "30d")  # the same mappings the shipper's documents get
    lines = ndjson.read_bytes().splitlines(keepends=True)
    t0 = time.perf_counter()
    sent = 0
    for i in range(0, len(lines), 2 * batch):
        body = b"".join(lines[i : i + 2 * batch])
        resp = client.bulk(body=body, filter_path="errors,items.*.error")
        assert not resp.get("errors"), f"raw loader rejected documents: {str(resp)[:500]}"
        sent += len(lines[i : i + 2 * batch]) // 2
    return time.perf_counter() - t0, sent


def prebuild(log: Path, out: Path, prefix: str) -> int:
    """What the shipper leaves in the cluster, as action+document NDJSON built outside the timing: the
    event documents, then one final summary per message. Returns how many summaries."""
    import orjson

    from shipper.exim.enrich import enrich
    from shipper.exim.parse import EntryParser
    from shipper.files.reader import iter_entries
    from shipper.messages import accumulate, partials
    from shipper.opensearch.documents import (
        action_line,
        event_id,
        event_index,
        message_id,
        message_index,
        summary_body,
    )

    parser = EntryParser("UTC", "bench")
    merged: dict[str, Any] = {}
    with log.open("rb") as fh, out.open("wb") as w:
        for n, entry in enumerate(iter_entries(fh)):
            doc = enrich(parser.parse(entry.data))
            w.write(action_line("create", event_index(prefix, doc), event_id("bench", entry.data, n)) + b"\n")
            w.write(orjson.dumps(doc) + b"\n")
            for part in partials(doc):
                accumulate(merged, part)
        for local_id, part in merged.items():
            ix, did = message_index(prefix, local_id), message_id("bench", local_id)
            w.write(action_line("create", ix, did) + b"\n")
            w.write(summary_body(part) + b"\n")
    return len(merged)


class PeakRss:
    """The peak RSS of a process after its exec (VmHWM), sampled until it exits. ru_maxrss would also
    count the pages of this bench process it was forked from, before the exec."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.kib = 0
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                text = status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.kib = max(self.kib, int(line.split()[1]))
            time.sleep(0.2)

    @property
    def mib(self) -> float:
        self.thread.join(1)
        return self.kib / 1024


def node_cpu(data: Path | None) -> float | None:
    """CPU seconds the local node has used so far (None for a node we did not start)."""
    if data is None:
        return None
    pid = int((data / "opensearch.pid").read_text())
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def statuses(resp: dict[str, Any]) -> Counter[int]:
    """How many items of one `_bulk` response came back with each HTTP status."""
    return Counter(next(iter(i.values()))["status"] for i in resp.get("items", []))


def capture_bodies(log: Path, url: str, work: Path, out: Path) -> Counter[int]:
    """Run the same backfill in this process (untimed), keep every `_bulk` body it sends, and count its
    items by the status the cluster answered."""
    from opensearchpy import OpenSearch

    from shipper.cli import main as shipper_main

    original = OpenSearch.bulk
    answered: Counter[int] = Counter()

    def recording(self: OpenSearch, *a: Any, **kw: Any) -> Any:
        body = kw["body"]
        with out.open("ab") as fh:
            data = body if isinstance(body, bytes) else body.encode()
            fh.write(len(data).to_bytes(8, "big") + data)
        resp = original(self, *a, **kw)
        answered.update(statuses(resp))
        return resp

    from shipper.opensearch import provision
    from shipper.opensearch.connection import OpenSearchCluster

    # backfill only checks templates
    provision.setup(OpenSearchCluster(OpenSearch([url], timeout=120)), "benchcap", "30d")
    OpenSearch.bulk = recording  # type: ignore[method-assign]
    os.environ["EXIM_SHIPPER_STATE_DIR"] = str(work / "capture-state")
    try:
        args = ["backfill", str(log), "--opensearch-url", url, "--index-prefix", "benchcap"]
        shipper_main([*args, "--timezone", "UTC", "--server-name", "bench", "--quiet"])
    finally:
        OpenSearch.bulk = original  # type: ignore[method-assign]
    return answered


def replay_bodies(bodies: Path) -> list[bytes]:
    """The captured bodies, retargeted at fresh `benchrep` indices, built before the timing.

    A summary rewrite carries `if_seq_no`/`if_primary_term` read from the capture's indices; in other
    indices those mean nothing and each would be a cheap 409. They become plain `index` writes: the
    work the cluster did for them. (The multi-gets that read those summaries are not replayed.)
    """
    import orjson

    blob = bodies.read_bytes()
    out = []
    i = 0
    while i < len(blob):
        n = int.from_bytes(blob[i : i + 8], "big")
        lines = blob[i + 8 : i + 8 + n].replace(b'"benchcap-', b'"benchrep-').split(b"\n")
        for k in range(0, len(lines) - 1, 2):
            if b"if_seq_no" in lines[k]:
                action = orjson.loads(lines[k])
                for meta in action.values():
                    meta.pop("if_seq_no", None)
                    meta.pop("if_primary_term", None)
                lines[k] = orjson.dumps(action)
        out.append(b"\n".join(lines))
        i += 8 + n
    return out


def replay(url: str, bodies: list[bytes]) -> tuple[float, Counter[int], Counter[str]]:
    """Send the bodies again, one request at a time, into fresh indices: seconds, the items answered by
    status, and the error types of those not stored."""
    from opensearchpy import OpenSearch

    from shipper.opensearch import provision
    from shipper.opensearch.connection import OpenSearchCluster

    client = OpenSearch([url], timeout=120)
    provision.setup(OpenSearchCluster(client), "benchrep", "30d")
    answered: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    t0 = time.perf_counter()
    for body in bodies:
        resp = client.bulk(body=body, filter_path="items.*.status,items.*.error.type")
        answered.update(statuses(resp))
        for item in resp.get("items", []):
            res = next(iter(item.values()))
            if res["status"] >= 300:
                errors[f"{res['status']} {res.get('error', {}).get('type', '')}"] += 1
    return time.perf_counter() - t0, answered, errors


def stored(url: str, index: str) -> int:
    from opensearchpy import OpenSearch

    client = OpenSearch([url], timeout=120)
    client.indices.refresh(index=index)
    return int(client.count(index=index)["count"])


def _by_status(counts: Counter[int]) -> str:
    return ", ".join(f"{n:,} x {st}" for st, n in sorted(counts.items())) or "none"


def _settled(counts: Counter[int]) -> Counter[int]:
    """Statuses apart from throttling and the 409s a throttled item's retry can turn into."""
    return Counter({st: n for st, n in counts.items() if st not in (409, 429)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--url", default=os.environ.get("EXIM_SHIPPER_BENCH_URL"), help="use this node instead")
    args = ap.parse_args(argv)
    log, _ = parse_speed.ensure_log(args.lines, args.seed)
    url, data = bench_node.start(args.url)
    work = Path(tempfile.mkdtemp(prefix="exim-shipper-bench-state-"))
    try:
        ndjson = work / "docs.ndjson"
        # In a process of its own: it holds every summary at once, and a child forked from a big parent
        # would report the parent's pages as its own peak RSS.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            n_summaries = pool.submit(prebuild, log, ndjson, "benchraw").result()
        # A fresh JVM runs slowly until its JIT has warmed up: whoever went first would be penalised.
        warm = work / "warm.ndjson"
        with ndjson.open("rb") as src, warm.open("wb") as dst:
            for n, line in enumerate(src):
                if n >= 200_000:
                    break
                dst.write(line.replace(b'"benchraw-', b'"benchwarm-'))
        raw_loader(url, warm, 2000, "benchwarm")
        env = {**os.environ, "EXIM_SHIPPER_STATE_DIR": str(work / "state")}
        from opensearchpy import OpenSearch

        from shipper.opensearch import provision
        from shipper.opensearch.connection import OpenSearchCluster

        # as `setup` would, untimed
        provision.setup(OpenSearchCluster(OpenSearch([url], timeout=120)), "benchship", "30d")
        cmd = [
            sys.executable,
            "-m",
            "shipper",
            "backfill",
            str(log),
            "--opensearch-url",
            url,
            "--index-prefix",
            "benchship",
            "--timezone",
            "UTC",
            "--server-name",
            "bench",
        ]
        cpu0 = node_cpu(data)
        t0 = time.perf_counter()
        err = work / "stderr.txt"
        with err.open("w") as err_fh:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err_fh)
            peak = PeakRss(proc.pid)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's CPU times
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = err.read_text()
        ours = time.perf_counter() - t0
        cpu_ours = node_cpu(data)
        if proc.returncode != 0:
            print(stderr)
            return 1
        rss = peak.mib
        # The closing table's row: the file is shown by its name, figures with thousands separators.
        row = next(line for line in stderr.splitlines() if line.startswith(log.name + " ")).split()
        entries, indexed = int(row[1].replace(",", "")), int(row[2].replace(",", ""))
        ours_docs = indexed + stored(url, "benchship-messages-*")
        raw_s, raw_n = raw_loader(url, ndjson, 2000, "benchraw")
        cpu_raw = node_cpu(data)
        bodies = work / "bodies.bin"
        captured = capture_bodies(log, url, work, bodies)
        replayable = replay_bodies(bodies)
        cpu_cap = node_cpu(data)
        rep_s, answered, refused = replay(url, replayable)
        cpu_rep = node_cpu(data)
        rep_docs = stored(url, "benchrep-events-*") + stored(url, "benchrep-messages-*")
        print(f"log: {log} ({args.lines:,} lines, {entries:,} entries, {n_summaries:,} messages); node {url}")
        label = "exim-shipper backfill (parse+enrich+correlate+bulk+summaries):"
        print(
            f"{label} {ours_docs:,} docs ({indexed:,} events + summaries) in {ours:.1f} s "
            f"= {ours_docs / ours:,.0f} docs/s, peak RSS {rss:.1f} MiB, "
            f"shipper CPU {usage.ru_utime + usage.ru_stime:.1f} s"
        )
        print(
            f"raw NDJSON _bulk loader of the same documents (prebuilt): {raw_n:,} docs in {raw_s:.1f} s "
            f"= {raw_n / raw_s:,.0f} docs/s"
        )
        if raw_n != ours_docs:
            print(f"WARNING: the loader sent {raw_n:,} documents but the shipper stored {ours_docs:,}")
        print(f"ratio ours / raw loader: {(ours_docs / ours) / (raw_n / raw_s):.2f}")
        written = sum(n for st, n in answered.items() if st < 300)
        rep_rate = rep_docs / rep_s
        print(
            "replay of the shipper's own _bulk bodies, nothing else running: "
            f"{sum(answered.values()):,} items ({written:,} written) in {rep_s:.1f} s; stored {rep_docs:,} "
            f"docs = {rep_rate:,.0f} docs/s (ratio to raw {rep_rate / (raw_n / raw_s):.2f})"
        )
        print(f"  items by status: capture {_by_status(captured)}; replay {_by_status(answered)}")
        if refused:
            print(f"  not stored by the replay: {dict(refused)}")
        if rep_docs != ours_docs:
            print(f"WARNING: the replay stored {rep_docs:,} documents but the shipper stored {ours_docs:,}")
        # A capture item throttled (429) and sent again may go through at once in the replay, and its
        # retry then answers 409: only the other statuses must match.
        if _settled(captured) != _settled(answered):
            print("WARNING: the replay's items were answered otherwise than the capture's")
        if None not in (cpu0, cpu_ours, cpu_raw, cpu_cap, cpu_rep):
            print(
                f"node CPU: {cpu_ours - cpu0:.1f} s during the backfill (beside the shipper's parsing), "  # type: ignore[operator]
                f"{cpu_raw - cpu_ours:.1f} s for the raw loader, {cpu_rep - cpu_cap:.1f} s for the replay"  # type: ignore[operator]
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        bench_node.stop(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
