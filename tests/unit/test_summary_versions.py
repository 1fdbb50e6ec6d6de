"""A message's summary written again by a later batch under the version the last write's answer gave it,
inside that batch's one `_bulk` (no `_mget`), against the in-memory cluster: a 409 falls back to
read-merge-write, a rejected or unanswered write forgets the version, a restart starts from none, and no
merge is lost on any of those ways."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.checkpoints import Registry
from shipper.deadletter import DeadLetters
from shipper.delivery import Batch, Delivery, Mark
from shipper.errors import ClusterError, OpenSearchUnavailable
from shipper.messages import Partial, key_of, merge, to_state
from shipper.opensearch import bulk, summaries
from shipper.opensearch.documents import message_id, message_index, summary_body
from tests.fakes.cluster import FakeCluster, Sent, Stored, no_wait
from tests.parsing import partials

ID = "1tXaaa-00000001abc-0ABC"
ARRIVAL = f"2030-01-01 10:00:00 {ID} <= a@example.com H=h [192.0.2.1] P=esmtp S=100"
DELIVERY = f"2030-01-01 10:00:01 {ID} => b@example.org R=dnslookup T=remote_smtp H=mx [192.0.2.9]"
DEFERRAL = f"2030-01-01 10:00:02 {ID} == c@example.org R=dnslookup T=remote_smtp defer (-44): retry"
COMPLETED = f"2030-01-01 10:00:03 {ID} Completed"
PREFIX = "p"
INDEX, DOC_ID = message_index(PREFIX, ID), message_id("mx1", ID)
THROTTLED = {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}
MAPPING_ERROR = {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad"}}


def part(line: str) -> Partial:
    (p,) = partials(line, server="mx1")
    return p


def everything(*lines: str) -> Any:
    merged = part(lines[0])
    for line in lines[1:]:
        merged = merge(merged, part(line))
    return to_state(merged)


class Tally:
    indexed = already = dead = summaries = 0


class Counted(FakeCluster):
    """The fake cluster, counting `_mget` requests beside the bulk requests it records."""

    def __init__(self) -> None:
        super().__init__()
        self.mgets = 0

    def mget(self, docs: list[dict[str, Any]]) -> dict[str, Any]:
        self.mgets += 1
        return super().mget(docs)


def event(n: int) -> bulk.Item:
    action = orjson.dumps({"create": {"_index": "p-events-2030.01.01", "_id": f"e{n}"}})
    return bulk.Item(action, b'{"n":%d}' % n, ref="file")


def batch(n: int, *lines: str, native: bool = False) -> Batch:
    """Batch `n`: one event and the summaries of `lines`, as Python partials or as a native summary item."""
    parts = [part(line) for line in lines]
    if not native:
        return Batch([event(n)], parts, [Mark("file", "/log", n)], Tally())
    merged = parts[0]
    for p in parts[1:]:
        merged = merge(merged, p)
    made = [summaries.create_item(PREFIX, key_of(merged), merged)]
    return Batch([event(n)], [], [Mark("file", "/log", n)], Tally(), summaries=made)


def stored_state(cluster: FakeCluster) -> Any:
    return cluster.documents(INDEX)[DOC_ID]["exim"]["merge_state"]


def summary_writes(cluster: FakeCluster) -> list[Sent]:
    return [s for s in cluster.sent if s.id == DOC_ID]


def delivery(cluster: FakeCluster, tmp_path: Path, **policy: Any) -> Delivery:
    return Delivery(cluster, PREFIX, Registry(tmp_path), DeadLetters(tmp_path), replace(no_wait(), **policy))


@pytest.mark.parametrize("native", [False, True])
def test_a_later_batch_writes_under_the_kept_version_in_its_one_bulk_request(
    tmp_path: Path, native: bool
) -> None:
    cluster = Counted()
    d = delivery(cluster, tmp_path)
    d.deliver(batch(1, ARRIVAL, native=native))
    first = cluster.indices[INDEX][DOC_ID].seq_no
    d.deliver(batch(2, DELIVERY))
    assert cluster.mgets == 0, "the state and version were kept: nothing is read"
    assert cluster.requests == [["e1", DOC_ID], ["e2", DOC_ID]], "each batch is one request, events included"
    create, write = summary_writes(cluster)
    assert (create.op, write.op) == ("create", "index")
    assert (write.meta["if_seq_no"], write.meta["if_primary_term"]) == (first, 1)
    assert stored_state(cluster) == everything(ARRIVAL, DELIVERY)
    second = cluster.indices[INDEX][DOC_ID].seq_no
    d.deliver(batch(3, COMPLETED))
    assert cluster.mgets == 0 and len(cluster.requests) == 3
    assert summary_writes(cluster)[-1].meta["if_seq_no"] == second
    assert stored_state(cluster) == everything(ARRIVAL, DELIVERY, COMPLETED)


def test_nothing_new_for_a_kept_summary_writes_nothing(tmp_path: Path) -> None:
    cluster = Counted()
    d = delivery(cluster, tmp_path)
    d.deliver(batch(1, ARRIVAL, DELIVERY))
    d.deliver(batch(2, DELIVERY))
    assert cluster.requests == [["e1", DOC_ID], ["e2"]]
    assert cluster.mgets == 0
    d.deliver(batch(3, COMPLETED))
    assert cluster.requests[-1] == ["e3", DOC_ID], "the version kept after the skip is still the stored one"
    assert stored_state(cluster) == everything(ARRIVAL, DELIVERY, COMPLETED)


def test_another_writer_makes_a_409_that_is_read_merged_and_kept_again(tmp_path: Path) -> None:
    cluster = Counted()
    d = delivery(cluster, tmp_path)
    d.deliver(batch(1, ARRIVAL))
    theirs = merge(part(ARRIVAL), part(DEFERRAL))  # another shipper (or a replay) merged in between
    cluster.indices[INDEX][DOC_ID] = Stored(orjson.loads(summary_body(theirs)), seq_no=999)
    d.deliver(batch(2, DELIVERY))
    assert cluster.mgets == 1
    assert [s.op for s in summary_writes(cluster)] == ["create", "index", "index"]
    assert summary_writes(cluster)[-1].meta["if_seq_no"] == 999
    assert stored_state(cluster) == everything(ARRIVAL, DEFERRAL, DELIVERY)
    d.deliver(batch(3, COMPLETED))
    assert cluster.mgets == 1, "the version the fallback wrote is kept: no second read"
    assert stored_state(cluster) == everything(ARRIVAL, DEFERRAL, DELIVERY, COMPLETED)


def test_a_restart_knows_no_version_creates_then_reads_on_409_and_keeps_what_it_wrote(tmp_path: Path) -> None:
    cluster = Counted()
    delivery(cluster, tmp_path).deliver(batch(1, ARRIVAL))
    d = delivery(cluster, tmp_path)  # a new process: its cache is empty
    d.deliver(batch(2, DELIVERY))
    assert [s.op for s in summary_writes(cluster)] == ["create", "create", "index"]
    assert cluster.mgets == 1
    d.deliver(batch(3, COMPLETED))
    assert cluster.mgets == 1
    assert stored_state(cluster) == everything(ARRIVAL, DELIVERY, COMPLETED)


def test_a_rejected_write_forgets_the_version_and_the_next_batch_reads(tmp_path: Path) -> None:
    cluster = Counted()
    d = delivery(cluster, tmp_path)
    d.deliver(batch(1, ARRIVAL))
    cluster.fault = lambda sent: MAPPING_ERROR if sent.id == DOC_ID else None
    d.deliver(batch(2, DELIVERY))
    (record,) = [orjson.loads(line) for line in (tmp_path / "deadletter.ndjson").read_bytes().splitlines()]
    assert record["id"] == DOC_ID, "the rejected summary is dead-lettered with its merged state"
    cluster.fault = None
    d.deliver(batch(3, COMPLETED))
    assert cluster.mgets == 1, "a rejected write's version is unknown: read"
    assert stored_state(cluster) == everything(ARRIVAL, COMPLETED)
    assert record["document"]["exim"]["merge_state"] == everything(ARRIVAL, DELIVERY)


def test_a_throttled_write_is_sent_again_and_the_version_of_its_answer_is_kept(tmp_path: Path) -> None:
    cluster = Counted()
    d = delivery(cluster, tmp_path)
    d.deliver(batch(1, ARRIVAL))
    cluster.fault = lambda sent: THROTTLED if sent.id == DOC_ID and sent.seen == 2 else None
    d.deliver(batch(2, DELIVERY))
    assert cluster.requests[1:] == [["e2", DOC_ID], [DOC_ID]]
    d.deliver(batch(3, COMPLETED))
    assert cluster.mgets == 0
    assert [s.meta.get("if_seq_no") for s in summary_writes(cluster)] == [None, 2, 2, 4]
    assert stored_state(cluster) == everything(ARRIVAL, DELIVERY, COMPLETED)


def applied_then_unanswered(cluster: FakeCluster, times: int) -> None:
    """The node stores the next `times` requests but their answers are lost (a timeout)."""
    left = [times]

    def refuse(body: bytes) -> ClusterError | None:
        if not left[0]:
            return None
        left[0] -= 1
        cluster.refuse = None
        cluster.bulk(body)
        cluster.refuse = refuse
        return OpenSearchUnavailable("OpenSearch did not answer in time")

    cluster.refuse = refuse


def test_a_write_applied_but_unanswered_is_sent_again_and_its_409_finds_nothing_lost(tmp_path: Path) -> None:
    cluster = Counted()
    d = delivery(cluster, tmp_path)
    d.deliver(batch(1, ARRIVAL))
    applied_then_unanswered(cluster, 1)
    d.deliver(batch(2, DELIVERY))
    ops = [(s.op, s.meta.get("if_seq_no")) for s in summary_writes(cluster)]
    assert ops == [("create", None), ("index", 2), ("index", 2)], "the second try conflicts with the first"
    assert cluster.mgets == 1 and len(summary_writes(cluster)) == 3, "read: already merged, so no write"
    d.deliver(batch(3, COMPLETED))
    assert cluster.mgets == 1, "the version read is kept"
    assert stored_state(cluster) == everything(ARRIVAL, DELIVERY, COMPLETED)


def test_a_batch_that_gave_up_leaves_no_version_behind(tmp_path: Path) -> None:
    cluster = Counted()
    d = delivery(cluster, tmp_path, max_attempts=1)
    d.deliver(batch(1, ARRIVAL))
    applied_then_unanswered(cluster, 1)
    with pytest.raises(OpenSearchUnavailable):
        d.deliver(batch(2, DELIVERY))
    d.deliver(batch(3, COMPLETED))
    assert cluster.mgets == 1, "the version it wrote under may be gone: read"
    assert stored_state(cluster) == everything(ARRIVAL, DELIVERY, COMPLETED)


def test_the_outcome_keeps_the_versions_of_delivered_summaries_only() -> None:
    cluster = FakeCluster(fault=lambda sent: THROTTLED if sent.id == "s2" and sent.seen == 1 else None)
    action = orjson.dumps({"create": {"_index": "p-messages-2030.01", "_id": "s1"}})
    bad = orjson.dumps({"create": {"_index": "p-messages-2030.01", "_id": "bad"}})
    items = [
        event(1),
        bulk.Item(action, b"{}", ref="s1", merge_on_conflict=True),
        bulk.Item(action.replace(b"s1", b"s2"), b"{}", ref="s2", merge_on_conflict=True),
        bulk.Item(bad, b"{}", ref="bad", merge_on_conflict=True),
    ]
    cluster.bulk(bad + b"\n{}\n")
    got = bulk.send(cluster, items, no_wait().tries())
    assert [(i.ref, seq, term) for i, seq, term in got.versions] == [("s1", 3, 1), ("s2", 4, 1)]
    assert [i.ref for i in got.conflicts] == ["bad"]


def test_kept_versions_are_bounded_by_their_bytes_and_keys_by_their_number() -> None:
    recent = summaries.Recent(size=3, budget=100)
    for n in range(3):
        recent.keep(("s", str(n)), summaries.Version(n, 1, 40, body=b"x" * 40))
    assert list(recent.versions) == [("s", "1"), ("s", "2")], "over 100 bytes: the oldest version goes"
    assert recent.held == 80
    assert ("s", "0") in recent, "its key stays: a read, not a blind create"
    assert recent.take(("s", "0")) is None
    recent.add([("s", "3")])
    assert ("s", "0") not in recent and recent.take(("s", "1")) is not None and recent.held == 40
    recent.add([("s", "4"), ("s", "5")])
    assert list(recent.keys) == [("s", "3"), ("s", "4"), ("s", "5")]
    assert not recent.versions and recent.held == 0, "a key forgotten takes its version with it"


def test_a_kept_version_is_bytes_and_gives_the_partial_back() -> None:
    merged = merge(merge(part(ARRIVAL), part(DELIVERY)), part(DEFERRAL))
    kept = summaries.Version(3, 1, 0, merged)
    assert isinstance(kept.data, bytes) and orjson.loads(kept.data) == to_state(merged)
    assert to_state(kept.merged()) == to_state(merged), "a Python summary's state, read back"
    body = summary_body(merged)
    native = summaries.Version(3, 1, len(body), body=body)
    assert native.data is body
    assert to_state(native.merged()) == to_state(merged), "a native summary's body, its merge_state read"
