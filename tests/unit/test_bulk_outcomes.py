"""Bulk outcome mapping against a scripted cluster: what is retried, what is already there, what is
dead-lettered, and how a request refused for its size is split."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from opensearchpy import exceptions as os_exc

from shipper.errors import OpenSearchUnavailable
from shipper.opensearch import bulk

Answer = Callable[[str, int], dict[str, Any]]


pytestmark = pytest.mark.usefixtures("no_retry_waits")


class ScriptedCluster:
    """Answers `_bulk` per item from `answer(doc_id, times_seen)`, or raises `refuse(body)` when given."""

    def __init__(self, answer: Answer, refuse: Callable[[bytes], Exception | None] | None = None) -> None:
        self.answer = answer
        self.refuse = refuse
        self.requests: list[list[str]] = []
        self.seen: dict[str, int] = {}

    def bulk(self, body: bytes, filter_path: str) -> dict[str, Any]:
        lines = body.split(b"\n")[:-1]
        ids = [orjson.loads(a)["create"]["_id"] for a in lines[0::2]]
        self.requests.append(ids)
        if self.refuse is not None and (exc := self.refuse(body)) is not None:
            raise exc
        items = []
        for doc_id in ids:
            self.seen[doc_id] = self.seen.get(doc_id, 0) + 1
            items.append({"create": {"_id": doc_id, **self.answer(doc_id, self.seen[doc_id])}})
        return {"errors": True, "items": items}


def item(doc_id: str, *, summary: bool = False, size: int = 10) -> bulk.Item:
    action = orjson.dumps({"create": {"_index": "t", "_id": doc_id}})
    return bulk.Item(action, b'{"x":"' + b"a" * size + b'"}', ref=doc_id, merge_on_conflict=summary)


def ids(items: list[bulk.Item]) -> list[str]:
    return [str(i.ref) for i in items]


def test_each_status_maps_to_its_outcome_and_only_transient_items_are_sent_again() -> None:
    def answer(doc_id: str, seen: int) -> dict[str, Any]:
        first = {
            "ok": {"status": 201},
            "dup": {"status": 409, "error": {"type": "version_conflict_engine_exception"}},
            "sum": {"status": 409, "error": {"type": "version_conflict_engine_exception"}},
            "bad": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad date"}},
            "slow": {"status": 429, "error": {"type": "es_rejected_execution_exception"}},
            "down": {"status": 503, "error": {"type": "unavailable_shards_exception"}},
        }[doc_id]
        return first if seen == 1 else {"status": 201}

    cluster = ScriptedCluster(answer)
    got = bulk.send(
        cluster,  # type: ignore[arg-type]
        [item("ok"), item("dup"), item("sum", summary=True), item("bad"), item("slow"), item("down")],
        max_attempts=3,
    )
    assert cluster.requests == [["ok", "dup", "sum", "bad", "slow", "down"], ["slow", "down"]]
    assert ids(got.delivered) == ["ok", "slow", "down"]
    assert ids(got.existed) == ["dup"]
    assert ids(got.conflicts) == ["sum"]
    assert [(str(i.ref), r) for i, r in got.rejected] == [
        ("bad", "HTTP 400 mapper_parsing_exception: bad date")
    ]


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
                "reason": "index [x] blocked by: "
                "[TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark]",
            },
        },
        {"status": 403, "error": {"type": "index_create_block_exception", "reason": "blocked"}},
    ],
)
def test_a_cluster_block_is_waited_out_never_dead_lettered(error: dict[str, Any]) -> None:
    cluster = ScriptedCluster(lambda _id, seen: error if seen <= 3 else {"status": 201})
    got = bulk.send(cluster, [item("a"), item("b")], max_attempts=None)  # type: ignore[arg-type]
    assert ids(got.delivered) == ["a", "b"]
    assert got.rejected == []
    assert len(cluster.requests) == 4


def test_a_block_that_outlasts_backfill_retries_stops_the_run_without_rejecting() -> None:
    blocked = {"status": 403, "error": {"type": "cluster_block_exception", "reason": "blocked"}}
    cluster = ScriptedCluster(lambda _id, _seen: blocked)
    with pytest.raises(OpenSearchUnavailable, match="blocked"):
        bulk.send(cluster, [item("a")], max_attempts=3)  # type: ignore[arg-type]
    assert len(cluster.requests) == 3


def _refuse_over(limit: int, status: int = 413) -> Callable[[bytes], Exception | None]:
    def refuse(body: bytes) -> Exception | None:
        if len(body) <= limit:
            return None
        if status == 413:
            return os_exc.TransportError(413, "", {})
        reason = (
            "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, "
            f"all_bytes=0, coordinating_operation_bytes={len(body)}, max_coordinating_and_primary_bytes={limit}]"
        )
        return os_exc.TransportError(429, "rejected_execution_exception", {"error": {"reason": reason}})

    return refuse


@pytest.mark.parametrize("status", [413, 429])
def test_a_request_too_large_is_split_and_only_the_huge_document_is_rejected(status: int) -> None:
    docs = [item(f"d{n}") for n in range(7)]
    docs.insert(3, item("huge", size=5000))
    cluster = ScriptedCluster(lambda _id, _seen: {"status": 201}, refuse=_refuse_over(1000, status))
    got = bulk.send(cluster, docs, max_attempts=2)  # type: ignore[arg-type]
    assert sorted(ids(got.delivered)) == sorted(f"d{n}" for n in range(7))
    assert [str(i.ref) for i, _ in got.rejected] == ["huge"]
    assert got.rejected[0][1].startswith(f"HTTP {status} request too large: one document of ")
    # every document but the huge one reached the cluster exactly once
    delivered = [d for r in cluster.requests for d in r if len(r) == 1 or "huge" not in r]
    assert sorted(d for d in delivered if d != "huge") == sorted(f"d{n}" for n in range(7))


def test_indexing_pressure_on_a_request_that_fits_the_limit_is_retried_not_split() -> None:
    reason = (
        "rejected execution of coordinating operation [coordinating_and_primary_bytes=900000, replica_bytes=0, "
        "all_bytes=900000, coordinating_operation_bytes=200, max_coordinating_and_primary_bytes=1000000]"
    )
    calls = iter([os_exc.TransportError(429, "rejected_execution_exception", {"error": {"reason": reason}})])
    cluster = ScriptedCluster(lambda _id, _seen: {"status": 201}, refuse=lambda _b: next(calls, None))
    got = bulk.send(cluster, [item("a"), item("b")], max_attempts=3)  # type: ignore[arg-type]
    assert ids(got.delivered) == ["a", "b"]
    assert cluster.requests == [["a", "b"], ["a", "b"]]
