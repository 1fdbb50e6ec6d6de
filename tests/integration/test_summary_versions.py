"""Summaries rewritten many times under the versions their last writes returned, on the real node: behind
a proxy that answers items 429/503, refuses requests and loses answers to requests the node applied, and
across a restart (no versions known). Every summary must end as one pass over the log makes it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import OpenSearch

from shipper.checkpoints import Registry
from shipper.deadletter import DeadLetters
from shipper.delivery import Batch, Delivery, Mark
from shipper.messages import Partial, merge, to_state
from shipper.opensearch.connection import OpenSearchCluster
from tests.fakes.cluster import no_wait
from tests.integration.faultproxy import FaultProxy
from tests.integration.test_backfill import (
    ROOT,
    command,
    count,
    generated_log,
    local_summaries,
    summaries,
    table_row,
)
from tests.parsing import partials

# A window of a few kilobytes and small batches: messages are written in many pieces, most of them by a
# later batch under the version an earlier one kept.
SPLIT = {"EXIM_SHIPPER_SUMMARY_WINDOW": "4000", "EXIM_SHIPPER_BATCH_MAX_DOCS": "50"}


def assert_converged(url: str, prefix: str, log: Path) -> int:
    """Every stored summary equals the one-pass summary of `log`; returns how many there are."""
    stored, expected = summaries(url, prefix), local_summaries(log)
    assert set(stored) == set(expected)
    for local_id, want in expected.items():
        got = dict(stored[local_id])
        got["exim"] = {k: v for k, v in got["exim"].items() if k != "merge_state"}
        assert got == orjson.loads(orjson.dumps(want)), local_id
    return len(expected)


@pytest.mark.usefixtures("set_up")
def test_summaries_written_under_kept_versions_converge_through_faults(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    log, entries = generated_log(tmp_path / "exim_mainlog", lines=3000, seed=7)
    env = {
        **os.environ,
        **SPLIT,
        "EXIM_SHIPPER_BACKFILL_MAX_RETRIES": "50",
        "EXIM_SHIPPER_RETRY_INITIAL_WAIT": "0.01",
        "EXIM_SHIPPER_RETRY_MAX_WAIT": "0.2",
    }
    with FaultProxy(opensearch_url, item_fault=0.2, request_503=0.05, drop=0.05, lost=0.1) as proxy:
        cmd = command("backfill", str(log), url=proxy.url, prefix=prefix, state=tmp_path / "state")
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
        assert res.returncode == 0, res.stderr
    assert proxy.stats["items_faulted"] > 50 and proxy.stats["lost"] > 0 and proxy.stats["dropped"] > 0
    written = int(table_row(res.stderr, "exim_mainlog")[4])
    messages = assert_converged(opensearch_url, prefix, log)
    assert written > 2 * messages, "messages were not written in pieces: this would prove nothing"
    assert count(opensearch_url, f"{prefix}-events-*") == entries
    assert not (tmp_path / "state" / "deadletter.ndjson").exists()


@pytest.mark.usefixtures("set_up")
def test_a_restart_mid_log_knows_no_versions_and_still_converges(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    full, entries = generated_log(tmp_path / "full.log", lines=3000, seed=8)
    data = full.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    log = tmp_path / "exim_mainlog"
    log.write_bytes(data[:cut])
    env = {**os.environ, **SPLIT}
    cmd = command("backfill", str(log), url=opensearch_url, prefix=prefix, state=tmp_path / "state")
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert first.returncode == 0, first.stderr
    log.write_bytes(data)  # the rest of the log, shipped by a new process
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert second.returncode == 0, second.stderr
    assert assert_converged(opensearch_url, prefix, log) > 0
    assert count(opensearch_url, f"{prefix}-events-*") == entries


class Counting(OpenSearchCluster):
    """The real seam, counting its `_mget` requests."""

    mgets = 0

    def mget(self, docs: list[dict[str, Any]]) -> dict[str, Any]:
        self.mgets += 1
        return super().mget(docs)


@pytest.mark.usefixtures("set_up")
def test_the_node_answers_the_versions_and_a_later_batch_writes_under_them_without_a_read(
    opensearch_url: str, prefix: str, tmp_path: Path
) -> None:
    """Through the real connection (its filtered bulk answer must keep `_seq_no` and `_primary_term`)."""
    local_id = "1tXaaa-00000001abc-0ABC"
    lines = [
        f"2030-01-01 10:00:00 {local_id} <= a@example.com H=h [192.0.2.1] P=esmtp S=100",
        f"2030-01-01 10:00:01 {local_id} => b@example.org R=dnslookup T=remote_smtp H=mx [192.0.2.9]",
        f"2030-01-01 10:00:02 {local_id} Completed",
    ]
    cluster = Counting(OpenSearch([opensearch_url]))
    delivery = Delivery(cluster, prefix, Registry(tmp_path), DeadLetters(tmp_path), no_wait())

    class Tally:
        indexed = already = dead = summaries = 0

    everything: Partial = {}
    for n, line in enumerate(lines):
        parts = partials(line, server="mx1")
        everything = merge(everything, parts[0]) if everything else parts[0]
        delivery.deliver(Batch([], parts, [Mark("f", "/log", n)], Tally()))
        assert ("mx1", local_id) in delivery.recent.versions, "the node's answer gave its version"
    assert cluster.mgets == 0, "no read: each write went under the version the last one returned"
    (stored,) = summaries(opensearch_url, prefix).values()
    assert stored["exim"]["merge_state"] == to_state(everything)
    assert "completed" in stored["exim"]["merge_state"], "the third batch's line is in"
