"""Bulk requests: one NDJSON body in, one outcome per item out; per-item retries of 429/503 only."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(slots=True)
class Outcome:
    """Per-item result: delivered, already there (409), to merge (409), or rejected with the reason."""

    delivered: list[Item] = field(default_factory=list)
    versions: list[tuple[Item, int, int]] = field(default_factory=list)
    """The delivered summaries (`merge_on_conflict`) with the `_seq_no` and `_primary_term` the node gave
    them, so that a later write of the same summary can go under that version without reading it."""
    existed: list[Item] = field(default_factory=list)
    conflicts: list[Item] = field(default_factory=list)
    rejected: list[tuple[Item, str]] = field(default_factory=list)


def send(
    cluster: Cluster,
    items: list[Item],
    tries: Tries,
    *,
    timed: Callable[[float], None] | None = None,
) -> Outcome:
    """Send items until each is delivered or rejected, in one loop of tries counted by `tries` (see
    RetryPolicy): a request that fails as a whole goes again whole, and the items answered 429/503 or
    refused by a cluster block go again alone; either is one try. A request refused for its size is split
    in halves until it fits (one document that alone is too large is rejected with that reason); the
    halves draw on the same count. `timed` is told how long each answered request took."""
    outcome = Outcome()
    pending = items
    while pending:
        body = b"".join(i.action + b"\n" + i.body + b"\n" for i in pending)
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
            tries.throttled(
                len(pending),
                OpenSearchUnavailable(
                    f"{len(pending)} documents still throttled (429/503) or blocked (index write block, "
                    "disk flood stage) after retries"
                ),
            )
    return outcome


def _sort(pending: list[Item], resp: dict[str, Any], outcome: Outcome) -> list[Item]:
    """Each item's answer into `outcome`; returns the items to send again (throttled or blocked)."""
    again: list[Item] = []
    for item, result in zip(pending, resp.get("items", []), strict=True):
        res = next(iter(result.values()))
        status = res.get("status", 0)
        if status < 300:
            outcome.delivered.append(item)
            if item.merge_on_conflict and "_seq_no" in res and "_primary_term" in res:
                outcome.versions.append((item, res["_seq_no"], res["_primary_term"]))
        elif status == 409:
            (outcome.conflicts if item.merge_on_conflict else outcome.existed).append(item)
        elif status in RETRYABLE_STATUS or res.get("error", {}).get("type") in BLOCK_TYPES:
            again.append(item)
        else:
            err = res.get("error", {})
            outcome.rejected.append((item, f"HTTP {status} {err.get('type', '')}: {err.get('reason', '')}"))
    return again


def _split(
    cluster: Cluster,
    items: list[Item],
    size: int,
    exc: RequestTooLarge,
    outcome: Outcome,
    *,
    tries: Tries,
    timed: Callable[[float], None] | None,
) -> None:
    if len(items) == 1:
        item = items[0]
        outcome.rejected.append((item, f"HTTP {exc.status} request too large: one document of {size} bytes"))
        return
    half = len(items) // 2
    for part in (items[:half], items[half:]):
        got = send(cluster, part, tries, timed=timed)
        outcome.delivered += got.delivered
        outcome.versions += got.versions
        outcome.existed += got.existed
        outcome.conflicts += got.conflicts
        outcome.rejected += got.rejected
