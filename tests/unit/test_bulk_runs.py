"""Runs of event documents as one bulk item, against the in-memory cluster: each document's outcome is
mapped back by position (a reject in the middle, a retry of only the throttled ones, a 409), a request
too large is split inside a run, the batcher cuts a run where item-at-a-time batching would close, and
the ship loop stores, counts and dead-letters each document of the core's runs as it was answered."""

from __future__ import annotations

from collections import Counter
from itertools import accumulate
from pathlib import Path
from typing import Any

import orjson
import pytest

from shipper.batcher import Batcher
from shipper.checkpoints import Registry
from shipper.deadletter import DeadLetters
from shipper.delivery import Batch, Delivery, Mark
from shipper.errors import ClusterError, RequestTooLarge
from shipper.opensearch import bulk
from shipper.pipeline import Shipper
from shipper.settings import Settings
from shipper.status import Status
from tests.fakes.cluster import FakeCluster, Sent, no_wait

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

MAPPING_ERROR = {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad date"}}
THROTTLED = {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}
KEY = "1:2"  # the file's key: every document's ref


def _lines(doc_id: str, size: int = 10) -> bytes:
    action = orjson.dumps({"create": {"_index": "t-events-2025.01.01", "_id": doc_id}})
    return action + b"\n" + orjson.dumps({"x": "a" * size, "id": doc_id}) + b"\n"


def run(*ids: str, sizes: dict[str, int] | None = None, pad: bytes = b"") -> bulk.Run:
    """A run of `ids`' documents, its bytes after `pad` (as a run sits inside the core's batch)."""
    lines = [_lines(i, (sizes or {}).get(i, 10)) for i in ids]
    cuts = [len(pad), *accumulate(map(len, lines), initial=len(pad))][1:]
    return bulk.Run(pad + b"".join(lines), cuts, ref=KEY)


def doc_ids(items: list[bulk.Piece]) -> list[str]:
    return [orjson.loads(i.body)["id"] for i in bulk.each(items)]


def first_time(answers: dict[str, dict[str, Any]]) -> Any:
    return lambda sent: answers.get(sent.id) if sent.seen == 1 else None


def test_a_run_s_documents_each_get_their_own_outcome_and_only_the_throttled_go_again() -> None:
    cluster = FakeCluster(
        fault=lambda s: (
            MAPPING_ERROR if s.id == "bad" else first_time({"slow1": THROTTLED, "slow2": THROTTLED})(s)
        )
    )
    cluster.bulk(_lines("dup"))
    cluster.requests.clear()
    single = bulk.Item(*_lines("alone").split(b"\n")[:2], ref="other")
    r = run("a", "slow1", "dup", "bad", "b", "slow2", "c", pad=b"xx\n")
    got = bulk.send(cluster, [single, r], no_wait().tries())
    assert cluster.requests == [["alone", "a", "slow1", "dup", "bad", "b", "slow2", "c"], ["slow1", "slow2"]]
    assert doc_ids(got.delivered) == ["alone", "a", "b", "c", "slow1", "slow2"]
    assert doc_ids(got.existed) == ["dup"]
    ((rejected, reason),) = got.rejected
    assert reason == "HTTP 400 mapper_parsing_exception: bad date"
    assert orjson.loads(rejected.action) == {"create": {"_index": "t-events-2025.01.01", "_id": "bad"}}
    assert orjson.loads(rejected.body) == {"x": "a" * 10, "id": "bad"}
    assert rejected.ref == KEY
    assert bulk.documents(got.delivered) == 6, "a run counts its documents"
    assert set(cluster.documents()) == {"alone", "a", "b", "c", "dup", "slow1", "slow2"}


def test_a_delivered_run_is_counted_per_document_by_file_and_dead_letters_its_reject(tmp_path: Path) -> None:
    cluster = FakeCluster(
        fault=lambda s: MAPPING_ERROR if s.id == "bad" else first_time({"slow": THROTTLED})(s)
    )
    cluster.bulk(_lines("dup"))
    registry, dead, status = Registry(tmp_path), DeadLetters(tmp_path), Status()
    counted: list[Counter[tuple[str | None, str]]] = []
    status.counted = lambda counts: counted.append(Counter(counts))  # type: ignore[method-assign]
    delivery = Delivery(cluster, "t", registry, dead, no_wait(), status=status)

    class Tally:
        indexed = already = dead = summaries = 0

    tally = Tally()
    batch = Batch([run("a", "dup", "bad", "slow", "b")], [], [Mark(KEY, "/var/log/exim_mainlog", 500)], tally)
    delivery.deliver(batch)
    assert (tally.indexed, tally.already, tally.dead) == (3, 1, 1)
    assert counted[0] == Counter({(KEY, "indexed"): 3, (KEY, "already"): 1, (KEY, "dead_lettered"): 1})
    (record,) = [orjson.loads(line) for line in (tmp_path / "deadletter.ndjson").read_bytes().splitlines()]
    assert (record["id"], record["reason"]) == ("bad", "HTTP 400 mapper_parsing_exception: bad date")
    assert record["document"] == {"x": "a" * 10, "id": "bad"}, "the document's own body, not its run's"
    assert Registry(tmp_path).offset(KEY) == 500


def test_a_run_too_large_is_split_inside_it_and_only_the_huge_document_is_rejected() -> None:
    def refuse(body: bytes) -> ClusterError | None:
        return (
            RequestTooLarge("OpenSearch answered HTTP 413: too large", status=413)
            if len(body) > 1000
            else None
        )

    ids = [f"d{n}" for n in range(9)]
    cluster = FakeCluster(refuse=refuse)
    got = bulk.send(cluster, [run(*ids[:4], "huge", *ids[4:], sizes={"huge": 5000})], no_wait(2).tries())
    assert sorted(doc_ids(got.delivered)) == sorted(ids)
    assert [orjson.loads(i.body)["id"] for i, _ in got.rejected] == ["huge"]
    assert got.rejected[0][1].startswith("HTTP 413 request too large: one document of ")
    assert set(cluster.documents()) == set(ids)
    assert all(n == 1 for n in cluster.seen.values()), "every stored document was sent once"
    assert cluster.requests[1] == [*ids[:4], "huge"], "the one run was cut in halves of its documents"


def _batches(batcher: Batcher, pieces: list[bulk.Piece]) -> list[list[str]]:
    """The ids of each batch when `pieces` go in as the loop adds them (a run cut by `room`)."""
    out: list[list[str]] = []
    for piece in pieces:
        i = 0
        n = len(piece)
        while i < n:
            j = i + (batcher.room(piece, i) if isinstance(piece, bulk.Run) else 1)
            batcher.add(piece.piece(i, j) if isinstance(piece, bulk.Run) else piece)
            if batcher.full:
                out.append(doc_ids(batcher.take(0.0)[0]))
            i = j
    if batcher.items:
        out.append(doc_ids(batcher.take(0.0)[0]))
    return out


@pytest.mark.parametrize(("max_docs", "max_bytes"), [(1000, 700), (4, 10**6), (5, 400), (1000, 1)])
def test_the_batcher_cuts_a_run_where_one_item_at_a_time_would_close_the_batch(
    max_docs: int, max_bytes: int
) -> None:
    ids = [f"d{n}" for n in range(23)]
    sizes = {i: 10 + 37 * (n % 5) for n, i in enumerate(ids)}
    one_by_one = list(bulk.each([run(*ids, sizes=sizes)]))
    want = _batches(Batcher(max_docs, max_bytes, 1.0), list(one_by_one))
    got = _batches(
        Batcher(max_docs, max_bytes, 1.0),
        [run(*ids[:9], sizes=sizes), one_by_one[9], run(*ids[10:], sizes=sizes)],
    )
    assert got == want
    assert len(want) > 1, "the limit cut the run"


def _log(tmp_path: Path) -> Path:
    """Fixture logs back to back: a few hundred entries of every kind."""
    parts = [(FIXTURES / "fleet_a.log").read_bytes(), (FIXTURES / "dashboards_mx1.log").read_bytes()]
    parts += [p.read_bytes() for p in sorted((FIXTURES / "realworld").glob("*.log"))]
    log = tmp_path / "exim_mainlog"
    log.write_bytes(b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts))
    return log


def _ship(log: Path, state: Path, picked: dict[str, set[int]]) -> tuple[Any, ...]:
    """Backfill through a cluster that rejects the documents at offsets `picked["bad"]` and throttles
    those at `picked["slow"]` once, batches cut by bytes; (stored documents, report, dead letters' ids
    and reasons, the requests' sizes, the registry's files)."""

    def fault(sent: Sent) -> dict[str, Any] | None:
        if sent.doc.get("log", {}).get("offset") in picked["bad"]:
            return MAPPING_ERROR
        if sent.doc.get("log", {}).get("offset") in picked["slow"] and sent.seen == 1:
            return THROTTLED
        return None

    cluster = FakeCluster(fault=fault)
    settings = Settings(state_dir=state, server_name="mx1", timezone="Europe/London", batch_max_bytes=20_000)
    shipper = Shipper(settings, cluster, no_wait())  # type: ignore[arg-type]
    try:
        report = shipper.backfill(log)
    finally:
        shipper.close()
        shipper.state_lock.release()
    stored = {index: {i: s.source for i, s in docs.items()} for index, docs in cluster.indices.items()}
    letters = state / "deadletter.ndjson"
    dead = [orjson.loads(line) for line in letters.read_bytes().splitlines()] if letters.exists() else []
    return stored, report, dead, [len(r) for r in cluster.requests], shipper.registry.files


def _line_starts(data: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    for line in data.splitlines(keepends=True):
        out.append((at, line))
        at += len(line)
    return out


def test_the_loop_ships_each_document_of_the_core_s_runs_as_it_was_answered(tmp_path: Path) -> None:
    """Two rejects and two throttled documents inside the core's runs: everything else is stored as a
    clean run stores it, the rejects are dead-lettered with their own bodies, the checkpoint ends."""
    log = _log(tmp_path)
    offsets = [o for o, _ in _line_starts(log.read_bytes())]
    bad, slow = {offsets[40], offsets[41]}, {offsets[7], offsets[100]}
    clean, clean_report, none, _, _ = _ship(log, tmp_path / "clean", {"bad": set(), "slow": set()})
    stored, report, dead, requests, registry = _ship(log, tmp_path / "faults", {"bad": bad, "slow": slow})
    assert none == []
    lost = {
        (index, i): doc
        for index, docs in clean.items()
        for i, doc in docs.items()
        if doc.get("log", {}).get("offset") in bad
    }
    assert len(lost) == 2
    assert {k: {i: d for i, d in docs.items() if (k, i) not in lost} for k, docs in clean.items()} == stored
    assert sorted((d["id"], d["reason"]) for d in dead) == sorted(
        (i, "HTTP 400 mapper_parsing_exception: bad date") for _, i in lost
    )
    assert sorted(orjson.dumps(d["document"], option=orjson.OPT_SORT_KEYS) for d in dead) == sorted(
        orjson.dumps(d, option=orjson.OPT_SORT_KEYS) for d in lost.values()
    ), "the documents' own bodies, not their runs'"
    assert (report.entries, report.indexed, report.dead) == (
        clean_report.entries,
        clean_report.indexed - 2,
        2,
    )
    assert report.entries == report.native > 100
    assert report.summaries == clean_report.summaries
    assert len(requests) > 3, "batches cut by bytes, and the retries"
    assert [(f["offset"], f["complete"]) for f in registry.values()] == [(log.stat().st_size, False)]
