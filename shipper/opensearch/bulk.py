"""Bulk requests: one NDJSON body in, one outcome per document out; per-document retries of 429/503 only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, ClassVar

from shipper.errors import OpenSearchUnavailable, RequestTooLarge
from shipper.opensearch.cluster import Cluster
from shipper.opensearch.retry import BLOCK_TYPES, RETRYABLE_STATUS, Tries


@dataclass(slots=True)
class Item:
    """One bulk item: its action line and body, kept as bytes so retries re-send them unchanged."""

    action: bytes
    body: bytes
    ref: Any = None  # the caller's handle (e.g. a message key) carried back with the outcome
    merge_on_conflict: bool = False
    """A 409 means "read, merge and write again" (summaries), not "already there" (events)."""

    def __len__(self) -> int:
        """Documents in the item: one (see `Run`)."""
        return 1


@dataclass(slots=True)
class Run:
    """Consecutive event documents as one item: their bulk lines (action and document, each ending in a
    newline) back to back in `data` from `cuts[0]` to `cuts[-1]`, document `i`'s from `cuts[i]`. The
    native core writes a file's bulk lines so: they go into the body as they are, with no Python object
    per document unless one needs its own outcome (a reject, a retry, a split)."""

    data: bytes
    cuts: list[int]
    ref: Any = None
    merge_on_conflict: ClassVar[bool] = False  # events only: a 409 is a document already there

    def __len__(self) -> int:
        return len(self.cuts) - 1

    @property
    def lines(self) -> memoryview:
        """The bulk lines, as a view of `data` (the body's join is their only copy)."""
        return memoryview(self.data)[self.cuts[0] : self.cuts[-1]]

    @property
    def size(self) -> int:
        """The batcher's measure, an `Item`'s `len(action) + len(body)` summed: the bytes but newlines."""
        return self.cuts[-1] - self.cuts[0] - 2 * len(self)

    def piece(self, start: int, stop: int) -> Run:
        """Documents `start` to `stop` (exclusive), the same bytes."""
        return Run(self.data, self.cuts[start : stop + 1], self.ref)

    def pick(self, docs: list[int]) -> Run:
        """Documents `docs` (ascending): the same bytes if they follow each other, else a copy of theirs."""
        if docs[-1] - docs[0] + 1 == len(docs):
            return self.piece(docs[0], docs[-1] + 1)
        data, cuts = self.data, self.cuts
        lines = b"".join(data[cuts[i] : cuts[i + 1]] for i in docs)
        return Run(lines, [0, *accumulate(cuts[i + 1] - cuts[i] for i in docs)], self.ref)

    def item(self, i: int) -> Item:
        """Document `i` as an `Item`: its own action and body (a reject's dead letter keeps them)."""
        lines = self.data[self.cuts[i] : self.cuts[i + 1] - 1]
        action, _, body = lines.partition(b"\n")
        return Item(action, body, ref=self.ref)


Piece = Item | Run
"""What a bulk request carries: single items, and runs of event documents."""


def documents(items: list[Piece]) -> int:
    """How many documents `items` hold."""
    return sum(map(len, items))


def each(items: list[Piece]) -> Iterator[Item]:
    """Every document of `items` as its own `Item`, in order."""
    for piece in items:
        if isinstance(piece, Run):
            yield from map(piece.item, range(len(piece)))
        else:
            yield piece


def _body(items: list[Piece]) -> bytes:
    parts: list[bytes | memoryview] = []
    for i in items:
        if isinstance(i, Run):
            parts.append(i.lines)
        else:
            parts += (i.action, b"\n", i.body, b"\n")
    return b"".join(parts)


@dataclass(slots=True)
class Outcome:
    """Per-document result: delivered, already there (409), to merge (409), or rejected with the reason.

    A run's documents of one result come as one `Run` (`len` counts them); a rejected one as its `Item`."""

    delivered: list[Piece] = field(default_factory=list)
    versions: list[tuple[Item, int, int]] = field(default_factory=list)
    """The delivered summaries (`merge_on_conflict`) with the `_seq_no` and `_primary_term` the node gave
    them, so that a later write of the same summary can go under that version without reading it."""
    existed: list[Piece] = field(default_factory=list)
    conflicts: list[Item] = field(default_factory=list)
    rejected: list[tuple[Item, str]] = field(default_factory=list)


def send(
    cluster: Cluster,
    items: Sequence[Piece],
    tries: Tries,
    *,
    timed: Callable[[float], None] | None = None,
) -> Outcome:
    """Send items until each is delivered or rejected, in one loop of tries counted by `tries` (see
    RetryPolicy): a request that fails as a whole goes again whole, and the documents answered 429/503 or
    refused by a cluster block go again alone (of a run, only those); either is one try. A request
    refused for its size is split in halves of its documents until it fits (one document that alone is
    too large is rejected with that reason); the halves draw on the same count. `timed` is told how long
    each answered request took."""
    outcome = Outcome()
    pending = list(items)
    while pending:
        body = _body(pending)
        began = time.monotonic()
        try:
            resp = cluster.bulk(body)
        except OpenSearchUnavailable as exc:
            tries.failed(exc)
            continue
        except RequestTooLarge as exc:
            _split(cluster, pending, len(body), exc, outcome, tries=tries, timed=timed)
            return outcome
        if timed is not None:
            timed(time.monotonic() - began)
        tries.succeeded()
        pending = _sort(pending, resp, outcome)
        if pending:
            # Throttling is not a rejection: never dead-letter it; the caller keeps its checkpoint.
            n = documents(pending)
            tries.throttled(
                n,
                OpenSearchUnavailable(
                    f"{n} documents still throttled (429/503) or blocked (index write block, "
                    "disk flood stage) after retries"
                ),
            )
    return outcome


def _sort(pending: list[Piece], resp: dict[str, Any], outcome: Outcome) -> list[Piece]:
    """Each document's answer into `outcome`, by position; returns what to send again (throttled or
    blocked)."""
    results = resp.get("items", [])
    if len(results) != documents(pending):
        raise ValueError(f"a bulk response of {len(results)} items to {documents(pending)} documents")
    if resp.get("errors") is False:  # every document stored: only the summaries' versions to look at
        outcome.delivered += pending
        at = 0
        for item in pending:
            if isinstance(item, Item) and item.merge_on_conflict:
                _version(item, next(iter(results[at].values())), outcome)
            at += len(item)
        return []
    again: list[Piece] = []
    at = 0
    for item in pending:
        if isinstance(item, Run):
            n = len(item)
            _sort_run(item, results[at : at + n], outcome, again)
            at += n
            continue
        res = next(iter(results[at].values()))
        at += 1
        status = res.get("status", 0)
        if status < 300:
            outcome.delivered.append(item)
            if item.merge_on_conflict:
                _version(item, res, outcome)
        elif status == 409:
            (outcome.conflicts if item.merge_on_conflict else outcome.existed).append(item)
        elif _again(status, res):
            again.append(item)
        else:
            outcome.rejected.append((item, _reason(status, res)))
    return again


def _version(item: Item, res: dict[str, Any], outcome: Outcome) -> None:
    if "_seq_no" in res and "_primary_term" in res:
        outcome.versions.append((item, res["_seq_no"], res["_primary_term"]))


def _sort_run(run: Run, results: list[dict[str, Any]], outcome: Outcome, again: list[Piece]) -> None:
    """A run's answers: its documents of each result as one run, a rejected one as its own item."""
    answers = [next(iter(r.values())) for r in results]
    statuses = [a.get("status", 0) for a in answers]
    if max(statuses) < 300:
        outcome.delivered.append(run)
        return
    stored: list[int] = []
    existed: list[int] = []
    retried: list[int] = []
    for i, (status, res) in enumerate(zip(statuses, answers, strict=True)):
        if status < 300:
            stored.append(i)
        elif status == 409:
            existed.append(i)
        elif _again(status, res):
            retried.append(i)
        else:
            outcome.rejected.append((run.item(i), _reason(status, res)))
    if stored:
        outcome.delivered.append(run.pick(stored))
    if existed:
        outcome.existed.append(run.pick(existed))
    if retried:
        again.append(run.pick(retried))


def _again(status: int, res: dict[str, Any]) -> bool:
    return status in RETRYABLE_STATUS or res.get("error", {}).get("type") in BLOCK_TYPES


def _reason(status: int, res: dict[str, Any]) -> str:
    err = res.get("error", {})
    return f"HTTP {status} {err.get('type', '')}: {err.get('reason', '')}"


def _split(
    cluster: Cluster,
    items: list[Piece],
    size: int,
    exc: RequestTooLarge,
    outcome: Outcome,
    *,
    tries: Tries,
    timed: Callable[[float], None] | None,
) -> None:
    if documents(items) == 1:
        item = items[0] if isinstance(items[0], Item) else items[0].item(0)
        outcome.rejected.append((item, f"HTTP {exc.status} request too large: one document of {size} bytes"))
        return
    for part in _halves(items):
        got = send(cluster, part, tries, timed=timed)
        outcome.delivered += got.delivered
        outcome.versions += got.versions
        outcome.existed += got.existed
        outcome.conflicts += got.conflicts
        outcome.rejected += got.rejected


def _halves(items: list[Piece]) -> tuple[list[Piece], list[Piece]]:
    """`items` in two of half the documents each, a run across the middle cut in two."""
    half = documents(items) // 2
    first: list[Piece] = []
    n = 0
    for k, item in enumerate(items):
        if n + len(item) <= half:
            first.append(item)
            n += len(item)
            continue
        rest = items[k + 1 :]
        if n == half:
            return first, [item, *rest]
        assert isinstance(item, Run)  # an item is one document: only a run crosses the middle
        cut = half - n
        return [*first, item.piece(0, cut)], [item.piece(cut, len(item)), *rest]
    return first, []
