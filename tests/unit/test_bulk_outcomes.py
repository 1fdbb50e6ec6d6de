"""Bulk outcome mapping against the in-memory cluster: what is retried (and only that), what is already
there, what is dead-lettered with its reason, how a block is waited out, and how a request refused for its
size is split; all tries of one send in one count."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.checkpoints import Registry
from shipper.deadletter import DeadLetters
from shipper.delivery import Batch, Delivery, Mark
from shipper.errors import ClusterError, OpenSearchUnavailable, RequestTooLarge
from shipper.opensearch import bulk
from tests.fakes.cluster import FakeCluster, Refusal, Sent, Watched, no_wait

MAPPING_ERROR = {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad date"}}
THROTTLED = {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}
UNAVAILABLE = {"status": 503, "error": {"type": "unavailable_shards_exception", "reason": "primary"}}


def item(doc_id: str, *, summary: bool = False, size: int = 10) -> bulk.Item:
    action = orjson.dumps({"create": {"_index": "t-events-2025.01.01", "_id": doc_id}})
    return bulk.Item(action, b'{"x":"' + b"a" * size + b'"}', ref=doc_id, merge_on_conflict=summary)


def ids(items: list[bulk.Item]) -> list[str]:
    return [str(i.ref) for i in items]


def first_time(answers: dict[str, dict[str, Any]]) -> Any:
    """Items answered from `answers` the first time they are sent, stored as a node would after."""
    return lambda sent: answers.get(sent.id) if sent.seen == 1 else None


def test_each_answer_maps_to_its_outcome_and_only_throttled_items_are_sent_again() -> None:
    cluster = FakeCluster(
        fault=lambda sent: (
            MAPPING_ERROR if sent.id == "bad" else first_time({"slow": THROTTLED, "down": UNAVAILABLE})(sent)
        )
    )
    # Already stored: an event shipped before (its create answers 409) and a summary (409: merge it).
    cluster.bulk(item("dup").action + b"\n{}\n" + item("sum").action + b"\n{}\n")
    cluster.requests.clear()
    got = bulk.send(
        cluster,
        [item("ok"), item("dup"), item("sum", summary=True), item("bad"), item("slow"), item("down")],
        no_wait().tries(),
    )
    assert cluster.requests == [["ok", "dup", "sum", "bad", "slow", "down"], ["slow", "down"]]
    assert ids(got.delivered) == ["ok", "slow", "down"]
    assert ids(got.existed) == ["dup"], "a 409 on an event is a document already there"
    assert ids(got.conflicts) == ["sum"], "a 409 on a summary is to be merged"
    assert [(str(i.ref), r) for i, r in got.rejected] == [
        ("bad", "HTTP 400 mapper_parsing_exception: bad date")
    ]
    assert set(cluster.documents()) == {"ok", "dup", "sum", "slow", "down"}


def _tally() -> Any:
    class Tally:
        indexed = already = dead = summaries = 0

    return Tally()


def test_a_delivered_batch_dead_letters_mapping_errors_with_their_reason_and_then_checkpoints(
    tmp_path: Path,
) -> None:
    cluster = FakeCluster(
        fault=lambda sent: MAPPING_ERROR if sent.id == "bad" else first_time({"slow": THROTTLED})(sent)
    )
    cluster.bulk(item("dup").action + b"\n{}\n")
    registry, dead = Registry(tmp_path), DeadLetters(tmp_path)
    delivery = Delivery(cluster, "t", registry, dead, no_wait())
    tally = _tally()
    mark = Mark("1:2", "/var/log/exim_mainlog", 300)
    delivery.deliver(Batch([item("ok"), item("dup"), item("bad"), item("slow")], [], [mark], tally))
    assert (tally.indexed, tally.already, tally.dead) == (2, 1, 1)
    (record,) = [orjson.loads(line) for line in (tmp_path / "deadletter.ndjson").read_bytes().splitlines()]
    assert (record["id"], record["reason"]) == ("bad", "HTTP 400 mapper_parsing_exception: bad date")
    assert record["document"] == {"x": "aaaaaaaaaa"}
    assert Registry(tmp_path).offset("1:2") == 300
    assert "slow" in cluster.documents(), "a throttled item is stored on its retry, never dead-lettered"


@pytest.mark.parametrize(
    "error",
    [
        {
            "status": 403,
            "error": {
                "type": "cluster_block_exception",
                "reason": "index [x] blocked by: [FORBIDDEN/8/index write (api)];",
            },
        },
        {
            "status": 429,
            "error": {
                "type": "cluster_block_exception",
                "reason": "index [x] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark]",
            },
        },
        {"status": 403, "error": {"type": "index_create_block_exception", "reason": "blocked"}},
    ],
)
def test_a_cluster_block_is_waited_out_then_shipping_resumes(error: dict[str, Any]) -> None:
    cluster = FakeCluster(fault=lambda sent: error if sent.seen <= 3 else None)
    watched = Watched()
    policy = replace(no_wait(None), watcher=watched)
    got = bulk.send(cluster, [item("a"), item("b")], policy.tries())
    assert ids(got.delivered) == ["a", "b"]
    assert got.rejected == []
    assert watched.throttled_n == [2, 2, 2], "each blocked round is waited for before the next"
    assert len(cluster.requests) == 4
    assert set(cluster.documents()) == {"a", "b"}


def test_a_block_that_outlasts_the_tries_stops_the_send_without_rejecting() -> None:
    blocked = {"status": 403, "error": {"type": "cluster_block_exception", "reason": "blocked"}}
    cluster = FakeCluster(fault=lambda _sent: blocked)
    with pytest.raises(OpenSearchUnavailable, match="blocked"):
        bulk.send(cluster, [item("a")], no_wait(3).tries())
    assert len(cluster.requests) == 3


def test_failed_requests_and_throttled_items_draw_on_one_count_of_tries() -> None:
    """One loop: two refused requests and one throttled answer are three tries, not 3 x 3."""
    refusals = iter([OpenSearchUnavailable("cannot connect to OpenSearch (refused)")] * 2)
    cluster = FakeCluster(fault=lambda _sent: THROTTLED, refuse=lambda _body: next(refusals, None))
    with pytest.raises(OpenSearchUnavailable, match="still throttled"):
        bulk.send(cluster, [item("a"), item("b")], no_wait(3).tries())
    assert len(cluster.requests) == 3


def _refuse_over(limit: int, status: int) -> Refusal:
    def refuse(body: bytes) -> ClusterError | None:
        if len(body) <= limit:
            return None
        return RequestTooLarge(f"OpenSearch answered HTTP {status}: too large", status=status)

    return refuse


@pytest.mark.parametrize("status", [413, 429])
def test_a_request_too_large_is_split_and_only_the_huge_document_is_rejected(status: int) -> None:
    docs = [item(f"d{n}") for n in range(7)]
    docs.insert(3, item("huge", size=5000))
    cluster = FakeCluster(refuse=_refuse_over(1000, status))
    got = bulk.send(cluster, docs, no_wait(2).tries())
    assert sorted(ids(got.delivered)) == sorted(f"d{n}" for n in range(7))
    assert [str(i.ref) for i, _ in got.rejected] == ["huge"]
    assert got.rejected[0][1].startswith(f"HTTP {status} request too large: one document of ")
    assert set(cluster.documents()) == {f"d{n}" for n in range(7)}
    assert all(n == 1 for doc_id, n in cluster.seen.items()), "every stored document was sent once"


def test_a_whole_request_throttled_is_sent_again_whole_not_split() -> None:
    refusals = iter([OpenSearchUnavailable("OpenSearch answered HTTP 429: rejected execution", status=429)])
    cluster = FakeCluster(refuse=lambda _body: next(refusals, None))
    got = bulk.send(cluster, [item("a"), item("b")], no_wait(3).tries())
    assert ids(got.delivered) == ["a", "b"]
    assert cluster.requests == [["a", "b"], ["a", "b"]]


def test_the_fake_answers_a_second_create_with_409_as_a_node_does() -> None:
    cluster = FakeCluster()
    first = bulk.send(cluster, [item("a")], no_wait().tries())
    again = bulk.send(cluster, [item("a")], no_wait().tries())
    assert (ids(first.delivered), ids(again.existed)) == (["a"], ["a"])
    assert [s.seen for s in cluster.sent] == [1, 2] and isinstance(cluster.sent[0], Sent)
