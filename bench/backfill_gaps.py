"""Where backfill leaves the node idle: a backfill in this process with each bulk request timed, and the
sender thread's time between two requests (building the body, reading the answer, the checkpoint's
fsyncs) split out, with the shipper's and the node's CPU and the collector's passes.

    .venv/bin/python bench/backfill_gaps.py                         # the 200k log, 2 rounds
    .venv/bin/python bench/backfill_gaps.py --log FILE --rounds 3 --url http://127.0.0.1:PORT

Without --url it starts a node on free loopback ports (bench_node) and stops it at the end. Each round
ships into a fresh prefix (templates installed first, dropped after). Per round: wall time, bulk
requests and the time inside them, the gaps between them (the node has no body to index then), the
time before the first and after the last, gzip's time (0 on loopback, see `connection.compressed`),
and, inside `Delivery.deliver`, the time before its request and after its answer (`Registry.save`
separately). The first round warms the node's JIT: compare the later ones.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import backfill_vs_bulk as bvb  # noqa: E402 - bench/ is a folder of scripts
import bench_node  # noqa: E402

from shipper import delivery  # noqa: E402
from shipper.opensearch import connection  # noqa: E402
from shipper.pipeline import Shipper  # noqa: E402
from shipper.settings import Settings  # noqa: E402

Spans = dict[str, list[tuple[float, float, int]]]


def timed(spans: Spans, name: str, owner: Any, attr: str, size: Callable[..., int] | None = None) -> None:
    """Record each call of `owner.attr` into `spans[name]` as (start, end, size of its first argument)."""
    inner = getattr(owner, attr)

    def wrapper(self: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(self, *args)
        finally:
            spans[name].append((t0, time.perf_counter(), size(*args) if size else 0))

    setattr(owner, attr, wrapper)


def _ms(values: list[float]) -> str:
    return f"{sum(values):.2f} s (median {sorted(values)[len(values) // 2] * 1000:.1f} ms)" if values else "0"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", type=Path, default=Path("/tmp/m200k.log"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--url", help="a running node to use instead of starting one (never :9200's)")
    args = ap.parse_args(argv)
    spans: Spans = {"bulk": [], "gzip": [], "deliver": [], "save": []}
    timed(spans, "bulk", connection.OpenSearchCluster, "bulk", len)
    timed(spans, "gzip", connection.FastGzipConnection, "_gzip_compress", len)
    timed(spans, "deliver", delivery.Delivery, "deliver")
    timed(spans, "save", delivery.Registry, "save")
    collected = [0.0]
    began = [0.0]

    def on_gc(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            collected[0] += time.perf_counter() - began[0]

    gc.callbacks.append(on_gc)
    url, data = bench_node.start(args.url)
    work = Path(tempfile.mkdtemp(prefix="exim-shipper-gaps-"))
    try:
        for n in range(args.rounds):
            prefix = f"gaps{n}"
            bvb.set_up(url, prefix)
            for v in spans.values():
                v.clear()
            collected[0] = 0.0
            settings = Settings(
                opensearch_url=[url],
                index_prefix=prefix,
                timezone=bvb.TIMEZONE,
                server_name=bvb.SERVER,
                state_dir=work / f"state-{n}",
            )
            cpu0, node0, t0 = os.times(), bvb.node_cpu(data), time.perf_counter()
            shipper = Shipper(settings, connection.connect(settings))
            report = shipper.backfill(args.log)
            shipper.close()
            t1, cpu1, node1 = time.perf_counter(), os.times(), bvb.node_cpu(data)
            bulks, delivers = spans["bulk"], spans["deliver"]
            gaps = [b[0] - a[1] for a, b in itertools.pairwise(bulks)]
            print(
                f"round {n + 1}: {t1 - t0:.2f} s, {len(bulks)} bulk requests ({report.indexed:,} events, "
                f"{report.summaries:,} summary writes), inside them {sum(b[1] - b[0] for b in bulks):.2f} s, "
                f"between them {_ms(gaps)}, before the first {bulks[0][0] - t0:.2f} s, after the last "
                f"{t1 - bulks[-1][1]:.2f} s; gzip {sum(g[1] - g[0] for g in spans['gzip']):.2f} s; "
                f"CPU: shipper {cpu1.user - cpu0.user + cpu1.system - cpu0.system:.2f} s (collector "
                f"{collected[0]:.2f} s), node {node1 - node0:.1f} s",
                flush=True,
            )
            if len(delivers) == len(bulks):  # one request per batch: no retries or splits to pair up
                pairs = list(zip(delivers, bulks, strict=True))
                print(
                    f"  in deliver: before its request {_ms([b[0] - d[0] for d, b in pairs])}, "
                    f"after its answer {_ms([d[1] - b[1] for d, b in pairs])}, of which "
                    f"Registry.save {_ms([s[1] - s[0] for s in spans['save']])}",
                    flush=True,
                )
            bvb.drop(url, prefix)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        bench_node.stop(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
