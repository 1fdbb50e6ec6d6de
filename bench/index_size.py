"""Events index size on a real node with and without the indexed raw line (`message`), per million log lines.

    python bench/index_size.py [--lines 100000] [--seed 1] [--url URL]

The same shipper documents (bench/generate_mainlog.py's log, rendered by the native core as `backfill`
sends them, `log.*` included) are bulk-loaded into fresh events indices under three mappings: the shipped
templates with `message` taken out (the mapping before it existed), the shipped templates (`message`
as `text` fed by `copy_to`), and `message` as `match_only_text` where the cluster has that type. Each
is force-merged to one segment, whose size is read, so the figures are comparable.
Message summaries carry no raw line and are left out.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import bench_node  # noqa: E402 - bench/ is a folder of scripts
import parse_speed  # noqa: E402

from tests.integration.prefixes import drop  # noqa: E402

Body = dict[str, Any]
BATCH = 2000


def documents(log: Path) -> Iterator[tuple[bytes, bytes]]:
    """(action line, document) per entry, as the native core renders them for the shipper (`log.*`
    included), under the placeholder prefix `PFX`."""
    from shipper import _native

    reader = _native.Reader(
        server="bench", zone="UTC", dataset="exim.main", path=str(log), index_prefix="PFX"
    )
    record = struct.Struct(_native.RECORD_FORMAT)

    def split(bulk: bytes, records: bytes) -> Iterator[tuple[bytes, bytes]]:
        pos = 0
        for rec in record.iter_unpack(records):
            bulk_len, action_len = rec[2], rec[3]
            yield bulk[pos : pos + action_len], bulk[pos + action_len + 1 : pos + bulk_len - 1]
            pos += bulk_len

    with log.open("rb") as fh:
        offset = 0
        while chunk := fh.read(1 << 20):
            yield from split(*reader.feed(chunk, offset))
            offset += len(chunk)
    yield from split(*reader.finish())


def _without_message(ecs: Body) -> None:
    props = ecs["template"]["mappings"]["properties"]
    props.pop("message")
    props["event"]["properties"]["original"].pop("copy_to")


def _match_only_text(ecs: Body) -> None:
    ecs["template"]["mappings"]["properties"]["message"] = {"type": "match_only_text"}


# name -> how the shipped ecs-base component template is changed (None: as shipped)
VARIANTS: dict[str, Callable[[Body], None] | None] = {
    "without message (before)": _without_message,
    "message: text (shipped)": None,
    "message: match_only_text": _match_only_text,
}


def measure(
    client: Any, prefix: str, change: Callable[[Body], None] | None, bulk_bodies: list[bytes]
) -> int | str:
    """Segment bytes of `prefix`'s events indices after loading and force-merging; or why not."""
    from opensearchpy import exceptions as os_exc

    from shipper.opensearch import provision
    from shipper.opensearch.connection import OpenSearchCluster

    provision.setup(OpenSearchCluster(client), prefix, "30d")
    if change is not None:
        text = (provision.TEMPLATES / "component" / "ecs-base.json").read_text().replace("{prefix}", prefix)
        ecs = orjson.loads(text)
        change(ecs)
        if change is _without_message:
            events = orjson.loads(
                (provision.TEMPLATES / "events.json").read_text().replace("{prefix}", prefix)
            )
            events["template"]["settings"]["index"].pop("query")
            client.transport.perform_request("PUT", f"/_index_template/{prefix}-events", body=events)
        try:
            client.transport.perform_request("PUT", f"/_component_template/{prefix}-ecs-base", body=ecs)
        except os_exc.RequestError as exc:
            return f"not measured: the cluster refused the mapping ({str(exc.info)[:120]})"
    marker = f'"{prefix}-'.encode()
    for body in bulk_bodies:
        resp = client.bulk(body=body.replace(b'"PFX-', marker), filter_path="errors,items.*.error")
        assert not resp.get("errors"), f"documents rejected: {str(resp)[:500]}"
    index = f"{prefix}-events-*"
    client.indices.refresh(index=index)
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=3600)
    return settled_size(client, index)


def settled_size(client: Any, index: str) -> int:
    """Bytes of the primaries' live segments, one per index once merged. Not the store size: a merge's
    replaced files, and commits kept for recovery, stay on disk (and in it) for a while after."""
    client.indices.refresh(index=index)
    client.indices.flush(index=index)
    shards = [
        copy
        for ix in client.indices.segments(index=index)["indices"].values()
        for copies in ix["shards"].values()
        for copy in copies
        if copy["routing"]["primary"]
    ]
    segments = [seg for copy in shards for seg in copy["segments"].values() if seg["search"]]
    if len(segments) != len(shards):
        raise SystemExit(f"{index}: {len(segments)} segments in {len(shards)} shards after the force-merge")
    return sum(int(seg["size_in_bytes"]) for seg in segments)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000, help="physical lines of the generated log")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--url", default=os.environ.get("EXIM_SHIPPER_BENCH_URL"), help="use this node instead")
    args = ap.parse_args(argv)
    from opensearchpy import OpenSearch

    log, _ = parse_speed.ensure_log(args.lines, args.seed)
    bodies: list[bytes] = []
    raw_bytes = entries = 0
    chunk: list[bytes] = []
    for action, doc in documents(log):
        entries += 1
        raw_bytes += len(orjson.loads(doc)["event"]["original"].encode())
        chunk += [action, b"\n", doc, b"\n"]
        if len(chunk) >= 4 * BATCH:
            bodies.append(b"".join(chunk))
            chunk = []
    if chunk:
        bodies.append(b"".join(chunk))
    url, data = bench_node.start(args.url)
    client = OpenSearch([url], timeout=600)
    version = client.info()["version"]
    scale = 1_000_000 / args.lines
    print(
        f"{args.lines:,} lines ({entries:,} entries, {raw_bytes / 2**20:.1f} MiB of raw text) of {log.name}"
    )
    print(
        f"{version.get('distribution', 'elasticsearch')} {version['number']} at {url}:",
        "events indices, primaries,",
    )
    print("force-merged to one segment; scaled to 1,000,000 lines")
    print(f"{'mapping':<28} {'MiB':>10} {'MiB / 1M lines':>15} {'bytes / event':>14} {'vs before':>10}")
    before: int | None = None
    try:
        for i, (name, change) in enumerate(VARIANTS.items()):
            prefix = f"benchsize{i}"
            drop(client, prefix)
            try:
                size = measure(client, prefix, change, bodies)
            finally:
                drop(client, prefix)
            if isinstance(size, str):
                print(f"{name:<28} {size}")
                continue
            before = size if before is None else before
            delta = f"{100 * (size - before) / before:+.1f}%"
            per_m = size * scale / 2**20
            print(f"{name:<28} {size / 2**20:>10.1f} {per_m:>15.1f} {size / entries:>14.1f} {delta:>10}")
    finally:
        bench_node.stop(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
