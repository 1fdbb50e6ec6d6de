"""Message-summary upserts against the in-memory cluster: read, merge and write back under optimistic
locking; a concurrent writer's 409 is read and merged again; a summary the read could not get is tried
again within the one count of tries."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from shipper.deadletter import DeadLetters
from shipper.messages import Partial, from_state, key_of, merge, to_state
from shipper.opensearch import summaries
from shipper.opensearch.documents import message_id, message_index, summary_body
from tests.fakes.cluster import FakeCluster, Sent, Stored, Watched, no_wait
from tests.parsing import states

ID = "1tXaaa-00000001abc-0ABC"
ARRIVAL = f"2030-01-01 10:00:00 {ID} <= a@example.com H=h [192.0.2.1] P=esmtp S=100"
DELIVERY = f"2030-01-01 10:00:01 {ID} => b@example.org R=dnslookup T=remote_smtp H=mx [192.0.2.9]"
COMPLETED = f"2030-01-01 10:00:02 {ID} Completed"
PREFIX = "p"


def part(line: str) -> Partial:
    """The core's partial summary of one log line on server mx1."""
    (state,) = states(line, server="mx1")
    return from_state(state)


def stored_state(cluster: FakeCluster) -> Any:
    doc = cluster.documents(message_index(PREFIX, ID))[message_id("mx1", ID)]
    return doc["exim"]["merge_state"]


def upsert(cluster: FakeCluster, p: Partial, tmp_path: Path, **policy: Any) -> int:
    return summaries.upsert(
        cluster, PREFIX, {key_of(p): p}, DeadLetters(tmp_path), replace(no_wait(), **policy).tries()
    )


def test_a_stored_summary_is_read_merged_and_written_back_under_its_version(tmp_path: Path) -> None:
    cluster = FakeCluster()
    assert upsert(cluster, part(ARRIVAL), tmp_path) == 1
    version = cluster.indices[message_index(PREFIX, ID)][message_id("mx1", ID)].seq_no
    assert upsert(cluster, part(DELIVERY), tmp_path) == 1
    assert stored_state(cluster) == to_state(merge(part(ARRIVAL), part(DELIVERY)))
    create, write = cluster.sent
    assert (create.op, write.op) == ("create", "index"), "new: a create; stored: an index under its version"
    assert (write.meta["if_seq_no"], write.meta["if_primary_term"]) == (version, 1)
    assert upsert(cluster, part(DELIVERY), tmp_path) == 0, "nothing new: no write"


def test_a_concurrent_writer_makes_a_409_that_is_read_and_merged_again(tmp_path: Path) -> None:
    cluster = FakeCluster()
    upsert(cluster, part(ARRIVAL), tmp_path)
    index, doc_id = message_index(PREFIX, ID), message_id("mx1", ID)

    def other_shipper_writes_first(sent: Sent) -> dict[str, Any] | None:
        if sent.op == "index" and sent.seen == 2:  # between our read and our write
            theirs = merge(part(ARRIVAL), part(COMPLETED))
            cluster.indices[index][doc_id] = Stored(summary_body_dict(theirs), seq_no=999)
        return None  # stored as the node would: the version moved on, so this answers 409

    cluster.fault = other_shipper_writes_first
    assert upsert(cluster, part(DELIVERY), tmp_path) == 1
    assert stored_state(cluster) == to_state(merge(merge(part(ARRIVAL), part(COMPLETED)), part(DELIVERY)))
    assert [s.op for s in cluster.sent] == ["create", "index", "index"]


def summary_body_dict(p: Partial) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(summary_body(p))
    return body


def test_a_summary_the_read_could_not_get_is_waited_for_and_read_again(tmp_path: Path) -> None:
    cluster = FakeCluster()
    upsert(cluster, part(ARRIVAL), tmp_path)
    real = cluster.mget
    reads: list[int] = []

    def one_shard_away(docs: list[dict[str, Any]]) -> dict[str, Any]:
        reads.append(len(docs))
        if len(reads) == 1:
            return {
                "docs": [
                    {"_id": d["_id"], "error": {"type": "no_shard_available_action_exception"}} for d in docs
                ]
            }
        return real(docs)

    cluster.mget = one_shard_away  # type: ignore[method-assign]
    watched = Watched()
    assert upsert(cluster, part(DELIVERY), tmp_path, watcher=watched) == 1
    assert reads == [1, 1]
    assert watched.throttled_n == [1], "the unread summary is one try of the count, waited for"
    assert stored_state(cluster) == to_state(merge(part(ARRIVAL), part(DELIVERY)))
